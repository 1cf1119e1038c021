import { createHash } from 'node:crypto';
import type { Logger } from '@instantpost/telemetry';
import type { Redis } from 'ioredis';
import { type FailOpen, failOpen } from './fail-open.ts';

/**
 * metadata's Redis: cached JSON of profiles and posts (dropped by the writes that change them), the
 * hash-bucketed post → author map, and the per-username login failure counters. Every key is under
 * the client's REDIS_PREFIX. Redis is never the only copy: all of it can be rebuilt from Postgres.
 */
const TOMBSTONE = '';
/** Longer than a read takes from its database load to its cache fill. */
const TOMBSTONE_MS = 5000;
/** The cached JSON kinds (`<name>:<id>` keys); the writers and the metadata-cache consumer share them. */
export const CACHED = { account: 'account', counts: 'counts', post: 'post' } as const;

/** What the login limiter reads when Redis cannot answer: no wait, no failures. */
const NO_LIMIT: [unknown, unknown][] = [
  [null, -2],
  [null, null],
  [null, -2],
];

export function cacheStore(
  redis: Redis,
  options: { ttlSeconds: number; postAuthorBuckets: number; logger: Logger },
) {
  // Redis is never the only copy: when it fails, reads miss, fills and invalidations are skipped (the
  // metadata-cache consumer repeats every invalidation from the event once Redis answers again), and
  // login limits let the attempt through.
  const open = failOpen(options.logger);
  /**
   * A read-through cache of JSON values. A write replaces the value with a short-lived tombstone and a
   * fill only lands where there is no key (NX): a reader that loaded the row before a write committed
   * cannot put its stale copy back, because the writer's tombstone is there (or overwrites it).
   */
  const json = <T>(prefix: string) => {
    /** Drops cached copies; throws when Redis fails (`invalidate` swallows it, the event consumer retries). */
    const invalidateOrThrow = async (...ids: string[]): Promise<void> => {
      if (ids.length === 0) return;
      const batch = redis.multi();
      for (const id of ids) batch.set(`${prefix}:${id}`, TOMBSTONE, 'PX', TOMBSTONE_MS);
      const results = await batch.exec();
      const failed = results?.find(([err]) => err);
      if (!results || failed) throw failed?.[0] ?? new Error('the invalidation was not applied');
    };
    return {
      async get(id: string): Promise<T | undefined> {
        const text = await open(redis.get(`${prefix}:${id}`), null, 'cache read');
        return text === null || text === TOMBSTONE ? undefined : (JSON.parse(text) as T);
      },
      async getMany(ids: readonly string[]): Promise<(T | undefined)[]> {
        if (ids.length === 0) return [];
        const texts = await open(
          redis.mget(...ids.map((id) => `${prefix}:${id}`)),
          ids.map(() => null),
          'cache read',
        );
        return texts.map((text) =>
          text === null || text === TOMBSTONE ? undefined : (JSON.parse(text) as T),
        );
      },
      async fill(id: string, value: T): Promise<void> {
        await open(
          redis.set(`${prefix}:${id}`, JSON.stringify(value), 'EX', options.ttlSeconds, 'NX'),
          null,
          'cache fill',
        );
      },
      invalidateOrThrow,
      async invalidate(...ids: string[]): Promise<void> {
        await open(invalidateOrThrow(...ids), undefined, 'cache invalidation');
      },
    };
  };

  return {
    json,
    postAuthors: postAuthorMap(redis, options.postAuthorBuckets, open),

    /**
     * How long this client must wait before trying this username again (0: go ahead), or before trying
     * any username when the client's own failures are over the ceiling.
     */
    async loginWait(username: string, client: string, maxClientFailures: number): Promise<number> {
      const read = redis
        .multi()
        .pttl(`loginwait:${client}:${username}`)
        .get(`loginfail:client:${client}`)
        .ttl(`loginfail:client:${client}`)
        .exec();
      const [[, waitMs], [, clientFailures], [, clientTtl]] = (await open(read, NO_LIMIT, 'login limit')) as [
        [unknown, number],
        [unknown, string | null],
        [unknown, number],
      ];
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
      const counted = redis
        .multi()
        .incr(pair)
        .expire(pair, policy.windowSeconds, 'NX')
        .incr(clientKey)
        .expire(clientKey, policy.windowSeconds, 'NX')
        .exec();
      const [[, failures]] = (await open(counted, [[null, 0]], 'login limit')) as [[unknown, number]];
      const over = failures - policy.freeFailures;
      if (failures > 0 && over >= 0) {
        const delaySeconds = Math.min(2 ** Math.min(over, 30), policy.maxDelaySeconds);
        await open(
          redis.set(`loginwait:${client}:${username}`, '1', 'EX', delaySeconds),
          null,
          'login limit',
        );
      }
    },

    /** A right password from this client: its tries of this username start over. */
    async clearLoginFailures(username: string, client: string): Promise<void> {
      await open(
        redis.del(`loginfail:${client}:${username}`, `loginwait:${client}:${username}`),
        0,
        'login limit',
      );
    },
  };
}

/**
 * Instagram's trick for a big id → id map: instead of one key per post, ids are grouped into hashes
 * (`pa:<bucket>`) small enough for Redis' compact listpack encoding, where a field and a value that
 * are integers take a few bytes each. Our ids are sparse (time + shard + sequence), so the bucket is
 * a hash of the id modulo the bucket count, not `id / 1000` as with Instagram's dense ids.
 */
export function postAuthorMap(redis: Redis, buckets: number, open: FailOpen = rethrow) {
  const keyOf = (postId: string) => `pa:${bucketOf(postId, buckets)}`;
  return {
    keyOf,
    async get(postId: string): Promise<string | undefined> {
      return (await open(redis.hget(keyOf(postId), postId), null, 'post author map')) ?? undefined;
    },
    async set(postId: string, authorId: string): Promise<void> {
      await open(redis.hset(keyOf(postId), postId, authorId), 0, 'post author map');
    },
    async drop(postId: string): Promise<void> {
      await open(redis.hdel(keyOf(postId), postId), 0, 'post author map');
    },
    /** Like `drop`, but throws when Redis fails (the event consumer retries until it works). */
    async dropOrThrow(postId: string): Promise<void> {
      await redis.hdel(keyOf(postId), postId);
    },
  };
}

/** No fallback: errors reach the caller (tools and benchmarks). */
const rethrow: FailOpen = async (operation) => operation;

export function bucketOf(postId: string, buckets: number): number {
  return createHash('md5').update(postId).digest().readUInt32BE(0) % buckets;
}

export type CacheStore = ReturnType<typeof cacheStore>;
