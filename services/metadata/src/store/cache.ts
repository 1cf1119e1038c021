import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * metadata's Redis: cached JSON of profiles and posts (dropped by the writes that change them), the
 * hash-bucketed post → author map, and the per-username login failure counters. Every key is under
 * the client's REDIS_PREFIX. Redis is never the only copy: all of it can be rebuilt from Postgres.
 */
const TOMBSTONE = '';
/** Longer than a read takes from its database load to its cache fill. */
const TOMBSTONE_MS = 5000;

export function cacheStore(redis: Redis, options: { ttlSeconds: number; postAuthorBuckets: number }) {
  /**
   * A read-through cache of JSON values. A write replaces the value with a short-lived tombstone and a
   * fill only lands where there is no key (NX): a reader that loaded the row before a write committed
   * cannot put its stale copy back, because the writer's tombstone is there (or overwrites it).
   */
  const json = <T>(prefix: string) => ({
    async get(id: string): Promise<T | undefined> {
      const text = await redis.get(`${prefix}:${id}`);
      return text === null || text === TOMBSTONE ? undefined : (JSON.parse(text) as T);
    },
    async getMany(ids: readonly string[]): Promise<(T | undefined)[]> {
      if (ids.length === 0) return [];
      const texts = await redis.mget(...ids.map((id) => `${prefix}:${id}`));
      return texts.map((text) => (text === null || text === TOMBSTONE ? undefined : (JSON.parse(text) as T)));
    },
    async fill(id: string, value: T): Promise<void> {
      await redis.set(`${prefix}:${id}`, JSON.stringify(value), 'EX', options.ttlSeconds, 'NX');
    },
    async invalidate(...ids: string[]): Promise<void> {
      if (ids.length === 0) return;
      const batch = redis.multi();
      for (const id of ids) batch.set(`${prefix}:${id}`, TOMBSTONE, 'PX', TOMBSTONE_MS);
      await batch.exec();
    },
  });

  return {
    json,
    postAuthors: postAuthorMap(redis, options.postAuthorBuckets),

    /**
     * How long this client must wait before trying this username again (0: go ahead), or before trying
     * any username when the client's own failures are over the ceiling.
     */
    async loginWait(username: string, client: string, maxClientFailures: number): Promise<number> {
      const [[, waitMs], [, clientFailures], [, clientTtl]] = (await redis
        .multi()
        .pttl(`loginwait:${client}:${username}`)
        .get(`loginfail:client:${client}`)
        .ttl(`loginfail:client:${client}`)
        .exec()) as [[unknown, number], [unknown, string | null], [unknown, number]];
      if (Number(clientFailures ?? 0) >= maxClientFailures) return Math.max(1, clientTtl);
      return waitMs > 0 ? Math.ceil(waitMs / 1000) : 0;
    },

    /**
     * Counts a failed login of `username` from `client`, for the client's ceiling and for the pair: past
     * `freeFailures` the pair waits 1 s, 2 s, 4 s, ... (at most `maxDelaySeconds`) between tries. Other
     * clients are never slowed by it, so nobody can lock an owner out of their account.
     */
    async recordLoginFailure(
      username: string,
      client: string,
      policy: { windowSeconds: number; freeFailures: number; maxDelaySeconds: number },
    ): Promise<void> {
      const pair = `loginfail:${client}:${username}`;
      const clientKey = `loginfail:client:${client}`;
      // NX: a window starts at its first failure and is not extended by later ones.
      const [[, failures]] = (await redis
        .multi()
        .incr(pair)
        .expire(pair, policy.windowSeconds, 'NX')
        .incr(clientKey)
        .expire(clientKey, policy.windowSeconds, 'NX')
        .exec()) as [[unknown, number], ...unknown[]];
      const over = failures - policy.freeFailures;
      if (over >= 0) {
        const delaySeconds = Math.min(2 ** Math.min(over, 30), policy.maxDelaySeconds);
        await redis.set(`loginwait:${client}:${username}`, '1', 'EX', delaySeconds);
      }
    },

    /** A right password from this client: its tries of this username start over. */
    async clearLoginFailures(username: string, client: string): Promise<void> {
      await redis.del(`loginfail:${client}:${username}`, `loginwait:${client}:${username}`);
    },
  };
}

/**
 * Instagram's trick for a big id → id map: instead of one key per post, ids are grouped into hashes
 * (`pa:<bucket>`) small enough for Redis' compact listpack encoding, where a field and a value that
 * are integers take a few bytes each. Our ids are sparse (time + shard + sequence), so the bucket is
 * a hash of the id modulo the bucket count, not `id / 1000` as with Instagram's dense ids.
 */
export function postAuthorMap(redis: Redis, buckets: number) {
  const keyOf = (postId: string) => `pa:${bucketOf(postId, buckets)}`;
  return {
    keyOf,
    async get(postId: string): Promise<string | undefined> {
      return (await redis.hget(keyOf(postId), postId)) ?? undefined;
    },
    async set(postId: string, authorId: string): Promise<void> {
      await redis.hset(keyOf(postId), postId, authorId);
    },
    async drop(postId: string): Promise<void> {
      await redis.hdel(keyOf(postId), postId);
    },
  };
}

export function bucketOf(postId: string, buckets: number): number {
  return createHash('md5').update(postId).digest().readUInt32BE(0) % buckets;
}

export type CacheStore = ReturnType<typeof cacheStore>;
