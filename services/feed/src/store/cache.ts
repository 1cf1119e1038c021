import type { Redis } from 'ioredis';
import { keys, SENTINEL } from './keys.ts';
import { bumpVersions, LUA_BUMP, newVersion } from './versions.ts';

/** A post as cached: everything but the counts and the viewer's like. */
export interface PostSummary {
  id: string;
  authorId: string;
  caption: string;
  hashtags: string[];
  mentions: { userId: string; username: string }[];
  altText: string | null;
  createdAt: string;
  media: {
    width: number;
    height: number;
    blurhash: string;
    renditions: { name: string; width: number; height: number; format: string; key: string }[];
  };
}

export interface CachedPost {
  summary: PostSummary;
  likeCount: number;
  commentCount: number;
}

/** A post's counts as Postgres holds them; `version` moves with every change (migration 0004). */
export interface PostCounts {
  likeCount: number;
  commentCount: number;
  version: number;
}

/** A post read from Postgres, with the version of its counts, to be cached. */
export type StoredPost = CachedPost & { countsVersion: number };

export interface AccountName {
  username: string;
  displayName: string;
}

/** What the page's round trip to Redis found in the caches. `undefined` means a miss (ask Postgres). */
export interface PageLookup {
  posts: (CachedPost | undefined)[];
  accounts: Map<string, AccountName | undefined>;
  /** `undefined` when the viewer's liked set is not cached. */
  liked: boolean[] | undefined;
}

const POST_TTL_SECONDS = 2 * 24 * 3600;
const ACCOUNT_TTL_SECONDS = 7 * 24 * 3600;
const LIKED_TTL_SECONDS = 7 * 24 * 3600;

// KEYS: post hashes; ARGV[1]: ttl, ARGV[2]: the write's version token (store/versions.ts); then per key: like
// count, comment count, counts version, summary JSON ('' keeps the hash's own). Counts are written only over older ones (a missing `v` is older than any), so a refill
// read before a like cannot undo it, and a counts-only write to a missing hash leaves a partial one (no
// `j`) that reads treat as a miss but whose version still guards the refill that follows.
const STORE_COUNTS = `
${LUA_BUMP('ARGV[2]')}
local ttl = tonumber(ARGV[1])
for i = 1, #KEYS do
  local at = 3 + (i - 1) * 4
  local key = KEYS[i]
  local held = tonumber(redis.call('HGET', key, 'v') or '-1')
  if held < tonumber(ARGV[at + 2]) then
    redis.call('HSET', key, 'l', ARGV[at], 'c', ARGV[at + 1], 'v', ARGV[at + 2])
  end
  if ARGV[at + 3] ~= '' then
    redis.call('HSET', key, 'j', ARGV[at + 3])
    redis.call('EXPIRE', key, ttl)
  else
    redis.call('EXPIRE', key, ttl, 'NX')
  end
  bump(key)
end
return 0`;

type RedisWithCounts = Redis & {
  feedStoreCounts(numKeys: number, ...args: (string | number)[]): Promise<number>;
};

function withCountsScript(redis: Redis): RedisWithCounts {
  const r = redis as RedisWithCounts;
  if (typeof r.feedStoreCounts !== 'function') redis.defineCommand('feedStoreCounts', { lua: STORE_COUNTS });
  return r;
}

/**
 * Redis caches that hydrate feed pages: post summaries with counts, account names, viewers' likes. They are
 * read by the page script in store/timelines.ts (same key layout), written here.
 */
export function hydrationCache(redis: Redis) {
  const scripted = withCountsScript(redis);
  return {
    /** Caches posts read from Postgres; their counts only where the cache holds none as new. */
    async storePosts(posts: readonly StoredPost[]): Promise<void> {
      if (posts.length === 0) return;
      const args = posts.flatMap((p) => [
        p.likeCount,
        p.commentCount,
        p.countsVersion,
        JSON.stringify(p.summary),
      ]);
      await scripted.feedStoreCounts(
        posts.length,
        ...posts.map((p) => keys.post(p.summary.id)),
        POST_TTL_SECONDS,
        newVersion(),
        ...args,
      );
    },

    /**
     * Writes the counts Postgres holds for these posts, one round trip for many, each only over an older
     * version: the same call after a redelivery repairs what a lost write left behind.
     */
    async storeCounts(counts: ReadonlyMap<string, PostCounts>): Promise<void> {
      if (counts.size === 0) return;
      const ids = [...counts.keys()];
      const args = [...counts.values()].flatMap((c) => [c.likeCount, c.commentCount, c.version, '']);
      await scripted.feedStoreCounts(
        ids.length,
        ...ids.map((id) => keys.post(id)),
        POST_TTL_SECONDS,
        newVersion(),
        ...args,
      );
    },

    async forgetPost(postId: string): Promise<void> {
      const multi = redis.multi().del(keys.post(postId));
      bumpVersions(multi, [keys.post(postId)]);
      await multi.exec();
    },

    async storeAccounts(accounts: ReadonlyMap<string, AccountName>): Promise<void> {
      if (accounts.size === 0) return;
      const pipeline = redis.pipeline();
      for (const [id, a] of accounts) {
        pipeline.hset(keys.account(id), 'u', a.username, 'n', a.displayName);
        pipeline.expire(keys.account(id), ACCOUNT_TTL_SECONDS);
      }
      bumpVersions(pipeline, [...accounts.keys()].map(keys.account));
      await pipeline.exec();
    },

    async forgetAccount(userId: string): Promise<void> {
      const multi = redis.multi().del(keys.account(userId));
      bumpVersions(multi, [keys.account(userId)]);
      await multi.exec();
    },

    /** Replaces the viewer's liked set with what Postgres holds, marked complete. */
    async storeLiked(viewerId: string, postIds: readonly string[]): Promise<void> {
      const key = keys.liked(viewerId);
      const multi = redis.multi().del(key).sadd(key, SENTINEL);
      if (postIds.length > 0) multi.sadd(key, ...postIds);
      multi.expire(key, LIKED_TTL_SECONDS);
      bumpVersions(multi, [key]);
      await multi.exec();
    },

    /** Adds or removes posts in viewers' liked sets, one round trip for many (viewer, post) pairs. */
    async setLikedMany(
      changes: readonly { viewerId: string; postId: string; liked: boolean }[],
    ): Promise<void> {
      if (changes.length === 0) return;
      const multi = redis.multi();
      for (const { viewerId, postId, liked } of changes) {
        const key = keys.liked(viewerId);
        if (liked) multi.sadd(key, postId).expire(key, LIKED_TTL_SECONDS, 'NX');
        else multi.srem(key, postId);
      }
      bumpVersions(multi, new Set(changes.map((c) => keys.liked(c.viewerId))));
      await multi.exec();
    },

    async setLiked(viewerId: string, postId: string, liked: boolean): Promise<void> {
      await this.setLikedMany([{ viewerId, postId, liked }]);
    },
  };
}

export type HydrationCache = ReturnType<typeof hydrationCache>;
