import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defineConsumer, outboxChannel, startConsumer } from '@instantpost/bus';
import { testEnvironment } from '@instantpost/chassis/testing';
import { createLogger } from '@instantpost/telemetry';
import test from 'ava';
import { type CounterEvent, counters } from '../src/domain/counters.ts';
import { cacheStore } from '../src/store/cache.ts';
import { counterStore } from '../src/store/counters.ts';
import {
  call,
  consumerIdle,
  type Fixture,
  mediaIdFor,
  newPost,
  newUser,
  openMetadata,
  publishRaw,
  recordEvents,
  type User,
  waitFor,
} from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openMetadata();
});
test.after.always(async () => {
  await fx?.close();
});

/** Users that exist only as valid tokens: liking needs no account of the liker. */
async function likers(n: number, near: User): Promise<User[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const id = await mediaIdFor(fx, near.id);
      const username = `liker${i}_${id.slice(-6)}`;
      return { id, username, token: fx.keys.tokenFor({ id, username }), refreshToken: '' };
    }),
  );
}

async function rowsOf(postId: string): Promise<{ likes: number; comments: number }> {
  const shard = fx.svc.infra.shards.forId(postId);
  const [row] = await shard.sql<{ likes: number; comments: number }[]>`
    SELECT (SELECT count(*) FROM ${shard.table('likes')} WHERE post_id = ${postId})::int AS likes,
           (SELECT count(*) FROM ${shard.table('comments')} WHERE post_id = ${postId})::int AS comments`;
  if (!row) throw new Error('no counts');
  return row;
}

async function shownCounts(postId: string): Promise<{ likes: number; comments: number }> {
  const res = await call(fx.svc, 'GET', `/v1/posts/${postId}`);
  return { likes: res.body.likeCount, comments: res.body.commentCount };
}

/** Every user likes, unlikes and likes again in a random order of operations, all at once. */
async function storm(postId: string, users: readonly User[], rounds: number): Promise<void> {
  await Promise.all(
    users.map(async (u, i) => {
      for (let r = 0; r < rounds; r++) {
        const like = (r + i) % 3 !== 1;
        const res = await call(fx.svc, like ? 'POST' : 'DELETE', `/v1/posts/${postId}/likes`, {
          token: u.token,
        });
        if (res.status !== 204) throw new Error(`like answered ${res.status}`);
      }
    }),
  );
}

async function converged(postId: string): Promise<{ likes: number; comments: number }> {
  const rows = await rowsOf(postId);
  await waitFor(
    'the counts to match the rows',
    async () => {
      const shown = await shownCounts(postId);
      return shown.likes === rows.likes && shown.comments === rows.comments;
    },
    { timeoutMs: 60_000 },
  );
  return rows;
}

test.serial(
  "a like's event goes out without the outbox NOTIFY: the like writer wakes its own relay",
  async (t) => {
    const author = await newUser(fx.svc, { database: 0 });
    const postId = await newPost(fx, author, 'liked quietly');
    const [fan] = await likers(1, author);
    if (!fan) throw new Error('no liker');
    const shard = fx.svc.infra.shards.forId(postId);
    const heard: string[] = [];
    const listener = await shard.sql.listen(outboxChannel(shard.schema), (schema) => {
      if (schema === shard.schema) heard.push(schema);
    });
    t.teardown(() => listener.unlisten());
    const likes = recordEvents(fx, 'like.created');
    t.teardown(() => likes.stop());
    const started = Date.now();
    t.is((await call(fx.svc, 'POST', `/v1/posts/${postId}/likes`, { token: fan.token })).status, 204);
    await waitFor('the like event published', () =>
      likes.events.some((e) => e.type === 'like.created' && e.data.postId === postId),
    );
    t.true(Date.now() - started < 3000, 'published at once, not by the 5 s poll');
    await new Promise((resolve) => setTimeout(resolve, 300));
    t.deepEqual(heard, [], 'no NOTIFY for the like');
  },
);

test.serial(
  'concurrent likes, unlikes and comments of one post: the counts end equal to the rows',
  async (t) => {
    const author = await newUser(fx.svc, { database: 0 });
    const postId = await newPost(fx, author, 'hot post');
    const users = await likers(40, author);
    const commenter = await newUser(fx.svc, { database: 1 });
    await Promise.all([
      storm(postId, users, 5),
      ...Array.from({ length: 15 }, (_, i) =>
        call(fx.svc, 'POST', `/v1/posts/${postId}/comments`, {
          token: commenter.token,
          body: { text: `comment ${i}` },
        }),
      ),
    ]);
    const rows = await converged(postId);
    t.true(rows.likes > 0 && rows.likes < 40, `some liked, some not: ${rows.likes}`);
    t.is(rows.comments, 15);
    await consumerIdle(fx, 'SOCIAL', 'metadata-counters');
    t.deepEqual(await shownCounts(postId), rows, 'still equal once the consumer is idle');
  },
);

test.serial(
  'events applied twice (republished, or a consumer that crashed between commit and ack) count once',
  async (t) => {
    const author = await newUser(fx.svc, { database: 1 });
    const postId = await newPost(fx, author, 'redelivered');
    const users = await likers(20, author);
    const seen = recordEvents(fx, 'like.>');
    await storm(postId, users, 3);
    const rows = await converged(postId);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the core subscription saw them too
    const published = [...seen.events];
    seen.stop();
    t.true(published.length >= 20);

    // The same events again, as a redelivery or an operator's replay would bring them (no Nats-Msg-Id).
    for (const event of published) await publishRaw(fx, event.type, JSON.stringify(event));
    await consumerIdle(fx, 'SOCIAL', 'metadata-counters');
    t.deepEqual(await shownCounts(postId), rows, 'replayed events changed nothing');

    // A second replica of the consumer that dies after committing and before acking each event the first
    // time: its events come back (to either replica) and the inbox skips them.
    const domain = counters({
      counters: counterStore(fx.svc.infra.shards),
      cache: cacheStore(fx.svc.infra.redis, {
        ttlSeconds: 60,
        postAuthorBuckets: 64,
        logger: createLogger({ service: 'test', level: 'silent' }),
      }),
    });
    const crashed = new Set<string>();
    const crashAfterCommit = async (event: CounterEvent) => {
      await domain.apply('metadata-counters', [event]);
      if (!crashed.has(event.id)) {
        crashed.add(event.id);
        throw new Error('process died before the ack');
      }
    };
    const replica = await startConsumer({
      nc: fx.svc.infra.nc,
      prefix: fx.ns.nats.prefix,
      logger: createLogger({ service: 'test', level: 'silent' }),
      definition: defineConsumer({
        name: 'metadata-counters',
        description: "applies likes, unlikes and comments to their posts' counters",
        subjects: ['like.created', 'like.deleted', 'comment.created'],
        settings: { concurrency: 4, deliverPolicy: 'new', retryBackoff: { initialMs: 50, maxMs: 200 } },
        handlers: {
          'like.created': crashAfterCommit,
          'like.deleted': crashAfterCommit,
          'comment.created': crashAfterCommit,
        },
      }),
    });
    try {
      await storm(postId, users, 4);
      const after = await converged(postId);
      await consumerIdle(fx, 'SOCIAL', 'metadata-counters');
      t.deepEqual(await shownCounts(postId), after);
      t.true(crashed.size > 0, 'the crashing replica handled some of the events');
    } finally {
      await replica.stop();
    }
  },
);

const RECONCILE = fileURLToPath(new URL('../src/reconcile.ts', import.meta.url));
const reconcile = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', RECONCILE, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });

test.serial('reconcile recounts a corrupted counter from the rows and drops the cached copy', async (t) => {
  const author = await newUser(fx.svc, { database: 0 });
  const postId = await newPost(fx, author, 'to be corrupted');
  const other = await newPost(fx, author, 'corrupted too');
  for (const u of await likers(5, author)) {
    await call(fx.svc, 'POST', `/v1/posts/${postId}/likes`, { token: u.token });
  }
  await call(fx.svc, 'POST', `/v1/posts/${postId}/comments`, { token: author.token, body: { text: 'hi' } });
  const rows = await converged(postId);
  t.deepEqual(rows, { likes: 5, comments: 1 });

  const shard = fx.svc.infra.shards.forId(postId);
  await shard.sql`UPDATE ${shard.table('posts')} SET like_count = 999, comment_count = -3 WHERE id = ${postId}`;
  const otherShard = fx.svc.infra.shards.forId(other);
  await otherShard.sql`UPDATE ${otherShard.table('posts')} SET like_count = 7 WHERE id = ${other}`;
  // Cached as corrupted: reconcile must drop that copy once it has fixed the row.
  await fx.svc.infra.redis.del(`post:${postId}`);
  t.is((await shownCounts(postId)).likes, 999);

  const env = testEnvironment('metadata', fx.ns, fx.keys);
  const one = reconcile(['--post', postId], env);
  t.is(one.status, 0, one.stderr);
  t.regex(one.stdout, new RegExp(`post ${postId}: likes 999 -> 5, comments -3 -> 1`));
  t.regex(one.stdout, /reconciled: 1 counter fixed/);
  const [stored] = await shard.sql<{ like_count: number }[]>`
    SELECT like_count FROM ${shard.table('posts')} WHERE id = ${postId}`;
  t.is(stored?.like_count, 5);
  t.deepEqual(await shownCounts(postId), rows);

  const all = reconcile(['--all'], env);
  t.is(all.status, 0, all.stderr);
  t.regex(all.stdout, new RegExp(`post ${other}: likes 7 -> 0`));
  t.deepEqual(await shownCounts(other), { likes: 0, comments: 0 });
  t.regex(reconcile(['--all'], env).stdout, /reconciled: 0 counters fixed/);
});

test.serial('reconcile: --help prints the usage; misuse exits 2 naming the problem', (t) => {
  const help = reconcile(['--help']);
  t.is(help.status, 0, help.stderr);
  t.regex(help.stdout, /^usage: npm run reconcile -w @instantpost\/metadata -- --post <id> \| --all/);
  const both = reconcile(['--post', '1', '--all']);
  t.is(both.status, 2);
  t.regex(both.stderr, /give one of --post <id> or --all/);
  const unknown = reconcile(['--everything']);
  t.is(unknown.status, 2);
  t.regex(unknown.stderr, /Unknown option '--everything'/);
  const bad = reconcile(['--post', 'abc']);
  t.is(bad.status, 2);
  t.regex(bad.stderr, /post id must be a decimal string/);
});
