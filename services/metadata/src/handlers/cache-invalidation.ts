import { defineConsumer } from '@instantpost/bus';
import type { CloudEvent } from '@instantpost/events';
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
  const handlers = {
    'account.updated': async (event: CloudEvent<'account.updated'>) =>
      accounts.invalidateOrThrow(event.data.userId),
    'follow.created': async (event: CloudEvent<'follow.created'>) => followCounts(event.data),
    'follow.approved': async (event: CloudEvent<'follow.approved'>) => followCounts(event.data),
    'follow.deleted': async (event: CloudEvent<'follow.deleted'>) => followCounts(event.data),
    'post.published': async (event: CloudEvent<'post.published'>) => {
      await grids.invalidateOrThrow(event.data.authorId);
      await counts.invalidateOrThrow(event.data.authorId);
    },
    'like.created': async (event: CloudEvent<'like.created'>) => like(event.data),
    'like.deleted': async (event: CloudEvent<'like.deleted'>) => like(event.data),
    'post.deleted': async (event: CloudEvent<'post.deleted'>) => {
      await posts.invalidateOrThrow(event.data.postId);
      await grids.invalidateOrThrow(event.data.authorId);
      await counts.invalidateOrThrow(event.data.authorId);
      await cache.postAuthors.dropOrThrow(event.data.postId);
    },
  };
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
    // Batches of up to 200, 4 at once: within max_ack_pending (1000).
    settings: {
      concurrency: 4,
      batchSize: 200,
      deliverPolicy: 'new',
      maxDeliver: 200,
      retryBackoff: { initialMs: 500, maxMs: 3000 },
    },
    handlers,
    // A like storm is one MULTI of flag changes per batch, and one span per batch
    // instead of one per like. Not dropped: the writer's own change after its commit is skipped while Redis
    // is away, and this is what repeats it once Redis answers (a failing batch is retried event by event,
    // each retried until Redis is back). Other events of the batch run through their handlers, in order.
    handleBatch: async (events) => {
      const byViewer = new Map<string, Set<string>>();
      for (const event of events) {
        if (event.type === 'like.created' || event.type === 'like.deleted') {
          const fields = byViewer.get(event.data.userId) ?? new Set<string>();
          fields.add(event.data.postId);
          byViewer.set(event.data.userId, fields);
          continue;
        }
        switch (event.type) {
          case 'account.updated':
            await handlers[event.type](event);
            break;
          case 'follow.created':
            await handlers[event.type](event);
            break;
          case 'follow.approved':
            await handlers[event.type](event);
            break;
          case 'follow.deleted':
            await handlers[event.type](event);
            break;
          case 'post.published':
            await handlers[event.type](event);
            break;
          case 'post.deleted':
            await handlers[event.type](event);
            break;
        }
      }
      await liked.changedManyOrThrow(byViewer);
    },
  });
}
