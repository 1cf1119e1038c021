import { defineConsumer, projectionBatching } from '@instantpost/bus';
import type { CloudEvent } from '@instantpost/events';
import { CACHED, type CacheStore, FLAGS } from '../store/cache.ts';

/** The events this consumer reads (its `subjects`, written out there for deploy/k8s-checks' NATS permissions). */
type CacheEvent = CloudEvent<
  | 'account.updated'
  | 'follow.created'
  | 'follow.approved'
  | 'follow.deleted'
  | 'post.published'
  | 'post.deleted'
  | 'like.created'
  | 'like.deleted'
>;

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
  /** The events of accounts and posts, one by one. */
  const handle = async (event: CacheEvent): Promise<void> => {
    switch (event.type) {
      case 'account.updated':
        return accounts.invalidateOrThrow(event.data.userId);
      case 'post.published':
        await grids.invalidateOrThrow(event.data.authorId);
        await counts.invalidateOrThrow(event.data.authorId);
        return;
      case 'post.deleted':
        await posts.invalidateOrThrow(event.data.postId);
        await grids.invalidateOrThrow(event.data.authorId);
        await counts.invalidateOrThrow(event.data.authorId);
        await cache.postAuthors.dropOrThrow(event.data.postId);
        return;
    }
  };
  // A like storm is one MULTI of flag changes per batch, and one span per batch instead of one per like;
  // follows the same way (one MULTI of follow flags and one of counts). Not dropped: the writer's own change
  // after its commit is skipped while Redis is away, and this is what repeats it once Redis answers (a
  // failing batch is retried event by event, each retried until Redis is back, through this same code with
  // a batch of one). Other events run through `handle`, in order.
  const invalidate = async (events: readonly CacheEvent[]) => {
    const likedBy = new Map<string, Set<string>>();
    const followedBy = new Map<string, Set<string>>();
    const countsOf = new Set<string>();
    const add = (to: Map<string, Set<string>>, viewerId: string, field: string) => {
      to.set(viewerId, (to.get(viewerId) ?? new Set<string>()).add(field));
    };
    for (const event of events) {
      if (event.type === 'like.created' || event.type === 'like.deleted') {
        add(likedBy, event.data.userId, event.data.postId);
      } else if (
        event.type === 'follow.created' ||
        event.type === 'follow.approved' ||
        event.type === 'follow.deleted'
      ) {
        add(followedBy, event.data.followerId, event.data.followeeId);
        countsOf.add(event.data.followerId).add(event.data.followeeId);
      } else {
        await handle(event);
      }
    }
    await liked.changedManyOrThrow(likedBy);
    await followStates.changedManyOrThrow(followedBy);
    await counts.invalidateOrThrow(...countsOf);
  };
  const one = async (event: CacheEvent) => invalidate([event]);
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
      ...projectionBatching(4),
      deliverPolicy: 'new',
      maxDeliver: 200,
      retryBackoff: { initialMs: 500, maxMs: 3000 },
    },
    handlers: {
      'account.updated': one,
      'follow.created': one,
      'follow.approved': one,
      'follow.deleted': one,
      'post.published': one,
      'post.deleted': one,
      'like.created': one,
      'like.deleted': one,
    },
    handleBatch: invalidate,
  });
}
