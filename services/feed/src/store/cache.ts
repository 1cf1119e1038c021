import type { Redis } from 'ioredis';
import { keys, SENTINEL } from './keys.ts';

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

/**
 * Redis caches that hydrate feed pages: post summaries with counts, account names, viewers' likes. They are
 * read by the page script in store/timelines.ts (same key layout), written here.
 */
export function hydrationCache(redis: Redis) {
  return {
    async storePosts(posts: readonly CachedPost[]): Promise<void> {
      if (posts.length === 0) return;
      const pipeline = redis.pipeline();
      for (const p of posts) {
        const key = keys.post(p.summary.id);
        pipeline.hset(key, 'j', JSON.stringify(p.summary), 'l', p.likeCount, 'c', p.commentCount);
        pipeline.expire(key, POST_TTL_SECONDS);
      }
      await pipeline.exec();
    },

    /** Moves cached counts, one round trip for many posts; on a missing hash this leaves a partial one that reads treat as a miss. */
    async bumpCounts(field: 'likes' | 'comments', deltas: ReadonlyMap<string, number>): Promise<void> {
      if (deltas.size === 0) return;
      const multi = redis.multi();
      for (const [postId, delta] of deltas) {
        const key = keys.post(postId);
        // EXPIRE NX: a partial hash (no `j`) created here must not outlive the cache either.
        multi.hincrby(key, field === 'likes' ? 'l' : 'c', delta).expire(key, POST_TTL_SECONDS, 'NX');
      }
      await multi.exec();
    },

    async bumpCount(postId: string, field: 'likes' | 'comments', delta: number): Promise<void> {
      await this.bumpCounts(field, new Map([[postId, delta]]));
    },

    async forgetPost(postId: string): Promise<void> {
      await redis.del(keys.post(postId));
    },

    async storeAccounts(accounts: ReadonlyMap<string, AccountName>): Promise<void> {
      if (accounts.size === 0) return;
      const pipeline = redis.pipeline();
      for (const [id, a] of accounts) {
        pipeline.hset(keys.account(id), 'u', a.username, 'n', a.displayName);
        pipeline.expire(keys.account(id), ACCOUNT_TTL_SECONDS);
      }
      await pipeline.exec();
    },

    async forgetAccount(userId: string): Promise<void> {
      await redis.del(keys.account(userId));
    },

    /** Replaces the viewer's liked set with what Postgres holds, marked complete. */
    async storeLiked(viewerId: string, postIds: readonly string[]): Promise<void> {
      const key = keys.liked(viewerId);
      const multi = redis.multi().del(key).sadd(key, SENTINEL);
      if (postIds.length > 0) multi.sadd(key, ...postIds);
      multi.expire(key, LIKED_TTL_SECONDS);
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
      await multi.exec();
    },

    async setLiked(viewerId: string, postId: string, liked: boolean): Promise<void> {
      await this.setLikedMany([{ viewerId, postId, liked }]);
    },
  };
}

export type HydrationCache = ReturnType<typeof hydrationCache>;
