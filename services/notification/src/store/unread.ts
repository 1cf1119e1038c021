import type { Redis } from 'ioredis';

// The unread count per recipient, cached in Redis (`unread:<userId>`, under the service prefix).
// Postgres is the truth: a missing key is recounted from it. Writers only adjust a key that exists,
// so they never create a partial count; a count that missed an adjustment (a crash between commit and
// adjust) is deleted when the event comes back (domain/unread.ts forgetMany), the TTL bounds the rest.

const ADJUST_IF_CACHED = `
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL') return 0 end
return n`;

export function unreadCache(redis: Redis, ttlSeconds: number) {
  const key = (userId: string) => `unread:${userId}`;
  return {
    /** The cached count, or undefined when it must be recounted. */
    async get(userId: string): Promise<number | undefined> {
      const value = await redis.get(key(userId));
      return value === null ? undefined : Number(value);
    },
    /** Caches a count just taken from Postgres unless a newer one is already there. */
    async fill(userId: string, count: number): Promise<void> {
      await redis.set(key(userId), count, 'EX', ttlSeconds, 'NX');
    },
    /** Applies a change to a cached count (no-op when none is cached). */
    async adjust(userId: string, delta: number): Promise<void> {
      if (delta !== 0) await redis.eval(ADJUST_IF_CACHED, 1, key(userId), delta);
    },
    /** `adjust` for many recipients in one round trip (a pipeline); zero changes are skipped. */
    async adjustMany(changes: ReadonlyMap<string, number>): Promise<void> {
      const pipeline = redis.pipeline();
      for (const [userId, delta] of changes) {
        if (delta !== 0) pipeline.eval(ADJUST_IF_CACHED, 1, key(userId), delta);
      }
      if (pipeline.length === 0) return;
      const results = await pipeline.exec();
      const failed = results?.find(([err]) => err);
      if (!results || failed) throw failed?.[0] ?? new Error('the unread changes were not applied');
    },
    /** Drops the cached count (after marking read: the next read recounts). */
    async forget(userId: string): Promise<void> {
      await redis.del(key(userId));
    },
  };
}

export type UnreadCache = ReturnType<typeof unreadCache>;
