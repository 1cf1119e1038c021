import { defineConsumer } from '@instantpost/bus';
import { CACHED, type CacheStore, FLAGS } from '../store/cache.ts';

/**
 * Drops the cached copies every committed write made stale, once more, from its event. The writer
 * already invalidated right after its commit; this catches the writes whose invalidation failed (Redis
 * down or the process gone at that moment): a failing Redis fails the delivery, which is retried every
 * few seconds until Redis answers, so no stale copy outlives an outage by more than that. Every replica
 * reads the same Redis, so one invalidation reaches them all. Likes change the viewer's liked flag here
 * (and the counts, which metadata-counters applies and invalidates itself); follows the follow flags.
 */
export function cacheInvalidationConsumer(cache: CacheStore) {
  const accounts = cache.json(CACHED.account);
  const counts = cache.json(CACHED.counts);
  const posts = cache.json(CACHED.post);
  const grids = cache.json(CACHED.grid);
  const liked = cache.flags(FLAGS.liked);
  const followStates = cache.flags(FLAGS.follows);
  const followCounts = async (data: { followerId: string; followeeId: string }) => {
    await followStates.changedOrThrow(data.followerId, data.followeeId);
    await counts.invalidateOrThrow(data.followerId, data.followeeId);
  };
  const like = async (data: { userId: string; postId: string }) =>
    liked.changedOrThrow(data.userId, data.postId);
  return defineConsumer({
    name: 'metadata-cache',
    description: 'invalidates cached accounts, counts and posts from the events of the writes',
    subjects: [
      'account.updated',
      'follow.created',
      'follow.approved',
      'follow.deleted',
      'post.published',
      'post.deleted',
      'like.created',
      'like.deleted',
    ],
    // Only writes from now on matter (older ones were invalidated or have expired from the cache).
    // Retries every few seconds for about ten minutes; a longer outage leaves it to the cache TTL.
    settings: {
      concurrency: 8,
      deliverPolicy: 'new',
      maxDeliver: 200,
      retryBackoff: { initialMs: 500, maxMs: 3000 },
    },
    handlers: {
      'account.updated': async (event) => accounts.invalidateOrThrow(event.data.userId),
      'follow.created': async (event) => followCounts(event.data),
      'follow.approved': async (event) => followCounts(event.data),
      'follow.deleted': async (event) => followCounts(event.data),
      'post.published': async (event) => {
        await grids.invalidateOrThrow(event.data.authorId);
        await counts.invalidateOrThrow(event.data.authorId);
      },
      'like.created': async (event) => like(event.data),
      'like.deleted': async (event) => like(event.data),
      'post.deleted': async (event) => {
        await posts.invalidateOrThrow(event.data.postId);
        await grids.invalidateOrThrow(event.data.authorId);
        await counts.invalidateOrThrow(event.data.authorId);
        await cache.postAuthors.dropOrThrow(event.data.postId);
      },
    },
  });
}
