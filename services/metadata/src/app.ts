import {
  type BuiltService,
  createServiceApp,
  openRedisTracking,
  type ServiceContext,
  startEventWork,
} from '@instantpost/chassis';
import type { ConfigOf } from '@instantpost/config';
import { DomainError, HttpErrorCodes } from '@instantpost/http';
import { createMediaUrlSigner } from '@instantpost/media-urls';
import type { FastifyInstance } from 'fastify';
import type { configSpec } from './config.ts';
import { counters } from './domain/counters.ts';
import { follows } from './domain/follows.ts';
import { interactions } from './domain/interactions.ts';
import { people } from './domain/people.ts';
import { posts } from './domain/posts.ts';
import { sessions } from './domain/sessions.ts';
import { cacheInvalidationConsumer } from './handlers/cache-invalidation.ts';
import { countersConsumer } from './handlers/counters.ts';
import { followMirrorConsumer } from './handlers/follow-mirror.ts';
import { goPublicConsumer } from './handlers/go-public.ts';
import { postsConsumer } from './handlers/media-processed.ts';
import { tagIndexConsumer } from './handlers/tag-index.ts';
import { countLogins } from './metrics.ts';
import { registerRoutes } from './routes/index.ts';
import { accountStore } from './store/accounts.ts';
import { cacheStore } from './store/cache.ts';
import { counterStore } from './store/counters.ts';
import { followStore } from './store/follows.ts';
import { interactionWrites } from './store/interaction-writes.ts';
import { postStore } from './store/posts.ts';
import { sessionStore } from './store/sessions.ts';

export type Context = ServiceContext<ConfigOf<typeof configSpec>>;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const malformed = (message: string) =>
  new DomainError('invalid', HttpErrorCodes.MalformedBody, message, { field: 'body' });

/**
 * JSON bodies must be valid UTF-8: a body with broken bytes is refused instead of stored with U+FFFD.
 * The text then goes through Fastify's own parser (which refuses `__proto__` / `constructor` poisoning).
 */
function strictJson(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = strictUtf8.decode(body as Buffer);
    } catch {
      done(malformed('the body is not valid UTF-8'));
      return;
    }
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    void parseJson(request, text, (err, parsed) => {
      if (err) done(malformed('the body is not valid JSON'));
      else done(null, parsed);
    });
  });
}

/** Builds metadata's HTTP app and background work from its clients; tests build the same app. */
export async function buildApp(ctx: Context): Promise<BuiltService> {
  const { config, infra, logger } = ctx;
  const app = await createServiceApp('metadata', ctx);
  strictJson(app);

  const accountsStore = accountStore(infra.shards);
  const followsStore = followStore(infra.shards);
  const postsStore = postStore(infra.shards);
  const tracking = config.redisClientTracking
    ? await openRedisTracking({ url: config.redisUrl, keyPrefix: config.redisPrefix, logger })
    : undefined;
  const cache = cacheStore(infra.redis, {
    ttlSeconds: config.cacheTtlSeconds,
    postAuthorBuckets: config.postAuthorBuckets,
    logger,
    tracking,
  });

  const peopleDomain = people({ accounts: accountsStore, follows: followsStore, cache });
  const followsDomain = follows({ follows: followsStore, people: peopleDomain });
  const sessionsDomain = sessions({
    accounts: accountsStore,
    sessionStore: sessionStore(infra.shards),
    cache,
    people: peopleDomain,
    settings: {
      privateKey: config.jwtPrivateKey,
      accessTokenTtlSeconds: config.accessTokenTtlSeconds,
      refreshTokenTtlDays: config.refreshTokenTtlDays,
      refreshReuseGraceSeconds: config.refreshReuseGraceSeconds,
      login: {
        windowSeconds: config.loginWindowSeconds,
        maxClientFailures: config.loginMaxFailuresPerAddress,
        freeFailures: config.loginFreeFailures,
        maxDelaySeconds: config.loginMaxDelaySeconds,
      },
    },
  });
  const postsDomain = posts({
    posts: postsStore,
    people: peopleDomain,
    cache,
    mediaUrls: createMediaUrlSigner({
      baseUrl: config.mediaBaseUrl,
      key: config.mediaUrlSigningKey,
      ttlSeconds: config.mediaUrlTtlSeconds,
      bucketSeconds: config.mediaUrlBucketSeconds,
    }),
  });
  const interactionsDomain = interactions({
    posts: postsStore,
    writes: interactionWrites(infra.shards),
    postsDomain,
    people: peopleDomain,
  });
  const countersDomain = counters({ counters: counterStore(infra.shards), cache });

  countLogins(app);
  registerRoutes(app, {
    sessions: sessionsDomain,
    people: peopleDomain,
    follows: followsDomain,
    posts: postsDomain,
    interactions: interactionsDomain,
    limits: {
      signUp: { max: config.signupMaxPerAddress, timeWindow: config.signupWindowSeconds * 1000 },
      refresh: { max: config.refreshMaxPerAddress, timeWindow: 60_000 },
    },
  });

  const work = await startEventWork(ctx, {
    outbox: true,
    consumers: [
      postsConsumer(postsDomain),
      followMirrorConsumer(followsDomain),
      tagIndexConsumer(postsDomain),
      cacheInvalidationConsumer(cache),
      goPublicConsumer(followsDomain),
      countersConsumer(countersDomain),
    ],
  });
  return {
    app,
    async stop() {
      await work.stop();
      await tracking?.close();
    },
  };
}
