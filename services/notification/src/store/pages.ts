import type { Redis } from 'ioredis';

/**
 * The first page of each recipient's list as ready JSON (`page:<userId>`, under the service prefix), without
 * its unread count (read beside it): a warm `GET /v1/notifications` is one Redis round trip and no
 * Postgres. Every committed change to a recipient's list drops the page (domain/unread.ts, on every
 * replica's behalf: Redis is shared) by writing a short-lived tombstone, and a fill only lands where there
 * is no key (NX), so a reader that loaded Postgres before a change committed cannot put its stale page back.
 * Actors' names in a page can be up to `ttlSeconds` old (a rename does not know whose lists show it).
 */
const TOMBSTONE = '';
/** How old an actor's name in a cached page may be (the only staleness: list changes drop the page). */
export const PAGE_TTL_SECONDS = 30;
/** Longer than a read takes from its Postgres load to its fill. */
const TOMBSTONE_MS = 5000;

export function pageCache(redis: Redis, ttlSeconds: number) {
  const page = (userId: string) => `page:${userId}`;
  const unread = (userId: string) => `unread:${userId}`;
  return {
    /**
     * The cached page as the bytes Redis holds (undefined: a miss; sent as is, never decoded into a string)
     * and the cached unread count (undefined: recount).
     */
    async get(userId: string): Promise<{ page: Buffer | undefined; unread: number | undefined }> {
      const [p = null, u = null] = await redis.mgetBuffer(page(userId), unread(userId));
      return {
        page: p === null || p.length === TOMBSTONE.length ? undefined : p,
        unread: u === null ? undefined : Number(u.toString()),
      };
    },
    async fill(userId: string, json: string): Promise<void> {
      await redis.set(page(userId), json, 'EX', ttlSeconds, 'NX');
    },
    async drop(userId: string): Promise<void> {
      await redis.set(page(userId), TOMBSTONE, 'PX', TOMBSTONE_MS);
    },
    /** `drop` for many recipients in one round trip (a pipeline). */
    async dropMany(userIds: Iterable<string>): Promise<void> {
      const pipeline = redis.pipeline();
      for (const userId of userIds) pipeline.set(page(userId), TOMBSTONE, 'PX', TOMBSTONE_MS);
      if (pipeline.length === 0) return;
      const results = await pipeline.exec();
      const failed = results?.find(([err]) => err);
      if (!results || failed) throw failed?.[0] ?? new Error('the pages were not dropped');
    },
  };
}

export type PageCache = ReturnType<typeof pageCache>;
