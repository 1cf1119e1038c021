import { execOrThrow, perText, type RedisTracking } from '@instantpost/chassis';
import type { Redis } from 'ioredis';

/**
 * The first page of each recipient's list as ready JSON (`page:<userId>`, under the service prefix), without
 * its unread count (read beside it): a warm `GET /v1/notifications` is one Redis round trip and no
 * Postgres. Every committed change to a recipient's list drops the page (domain/unread.ts, on every
 * replica's behalf: Redis is shared) by writing a short-lived tombstone, and a fill only lands where there
 * is no key (NX), so a reader that loaded Postgres before a change committed cannot put its stale page back.
 *
 * Actors' names are the other thing a page shows: before a reader loads the names of a page's actors it
 * adds the recipient to each actor's `shown:<actorId>` set, and a name change (after its commit) drops the
 * pages of everyone in the changed actor's set — so a reader that read the old name either finds its fill
 * refused or its page dropped. A page then lives until a change drops it or `ttlSeconds` pass.
 */
const TOMBSTONE = '';
/** Longer than a read takes from its Postgres load to its fill. */
const TOMBSTONE_MS = 5000;
/** Pages whose bytes a process keeps beside the tracked text (~5-25 KB each). */
export const KEPT_PAGES = 2000;

export function pageCache(redis: Redis, ttlSeconds: number, tracking?: RedisTracking) {
  const page = (userId: string) => `page:${userId}`;
  const unread = (userId: string) => `unread:${userId}`;
  const shown = (actorId: string) => `shown:${actorId}`;
  /** The bytes of each kept page text, made once per text (the tracked copy hands out the same text). */
  const bytesOf = perText(KEPT_PAGES, (text) => Buffer.from(text));
  return {
    /**
     * The cached page as bytes (undefined: a miss; sent as is) and the cached unread count (undefined:
     * recount). Without tracking, the bytes Redis holds (never decoded into a string); with it, this
     * process's copy while Redis tracks both keys for it (no round trip; any write, tombstone or expiry of
     * either ends the copy).
     */
    async get(userId: string): Promise<{ page: Buffer | undefined; unread: number | undefined }> {
      if (tracking) {
        const reads = [{ key: page(userId) }, { key: unread(userId) }];
        const [p = null, u = null] = await tracking.readThrough(
          reads,
          (c) => c.mget(page(userId), unread(userId)),
          redis,
        );
        return {
          page: p === null || p === TOMBSTONE ? undefined : bytesOf(userId, p),
          unread: u === null ? undefined : Number(u),
        };
      }
      const [p = null, u = null] = await redis.mgetBuffer(page(userId), unread(userId));
      return {
        page: p === null || p.length === TOMBSTONE.length ? undefined : p,
        unread: u === null ? undefined : Number(u.toString()),
      };
    },
    /**
     * Caches a first page (only where no key is: a tombstone refuses it) for `ttlSeconds` less up to a
     * third: pages filled together (every hot page after a restart, or read in the same minute) would
     * otherwise expire together, and every reader of each would miss at once (bench/system measured p99
     * 0.3-0.8 s at the moment they did).
     */
    async fill(userId: string, json: string): Promise<void> {
      const ttlMs = Math.round(ttlSeconds * 1000 * (1 - Math.random() / 3));
      await redis.set(page(userId), json, 'PX', ttlMs, 'NX');
    },
    /**
     * Before loading the names of a page's actors: records that `userId`'s page shows them (for
     * `namesChanged`). A page whose actors could not be recorded must not be filled.
     */
    async showing(userId: string, actorIds: Iterable<string>): Promise<void> {
      const pipeline = redis.pipeline();
      for (const actorId of new Set(actorIds)) {
        pipeline.sadd(shown(actorId), userId).expire(shown(actorId), ttlSeconds + SHOWN_MARGIN_SECONDS);
      }
      if (pipeline.length === 0) return;
      await execOrThrow(pipeline, 'the actors shown were not recorded');
    },
    /** An actor's name changed (after its commit): drops every page that may show the old one. */
    async namesChanged(actorId: string): Promise<void> {
      const recipients = await redis.smembers(shown(actorId));
      await this.dropMany(recipients);
    },
    async drop(userId: string): Promise<void> {
      await redis.set(page(userId), TOMBSTONE, 'PX', TOMBSTONE_MS);
    },
    /** `drop` for many recipients in one round trip (a pipeline). */
    async dropMany(userIds: Iterable<string>): Promise<void> {
      const pipeline = redis.pipeline();
      for (const userId of userIds) pipeline.set(page(userId), TOMBSTONE, 'PX', TOMBSTONE_MS);
      if (pipeline.length === 0) return;
      await execOrThrow(pipeline, 'the pages were not dropped');
    },
  };
}

/** Longer than a read takes from recording its actors to its fill: no page outlives its actors' sets. */
const SHOWN_MARGIN_SECONDS = 60;

export type PageCache = ReturnType<typeof pageCache>;
