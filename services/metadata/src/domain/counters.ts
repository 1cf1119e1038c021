import type { CloudEvent } from '@instantpost/events';
import { CACHED, type CacheStore } from '../store/cache.ts';
import type { CounterDelta, CounterStore, Recounted } from '../store/counters.ts';
import type { CachedPost } from './views.ts';

/** The events that move a post's counters. */
export type CounterEvent =
  | CloudEvent<'like.created'>
  | CloudEvent<'like.deleted'>
  | CloudEvent<'comment.created'>;

export function deltaOf(event: CounterEvent): CounterDelta {
  const { postId } = event.data;
  switch (event.type) {
    case 'like.created':
      return { eventId: event.id, postId, likes: 1, comments: 0 };
    case 'like.deleted':
      return { eventId: event.id, postId, likes: -1, comments: 0 };
    case 'comment.created':
      return { eventId: event.id, postId, likes: 0, comments: 1 };
  }
}

/**
 * Posts' like and comment counts, aggregated off the request path from the interactions' own events and
 * exact once every event is applied (each once, through the inbox); `reconcile` recounts from the rows.
 */
export function counters(deps: { counters: CounterStore; cache: CacheStore }) {
  const postCache = deps.cache.json<CachedPost>(CACHED.post);
  return {
    /**
     * Applies a batch of events once each, then drops the cached copies of their posts. The drop is
     * repeated for events applied before (a retry after Redis failed): it throws until Redis answers.
     */
    async apply(consumer: string, events: readonly CounterEvent[]): Promise<void> {
      if (events.length === 0) return;
      await deps.counters.applyDeltas(consumer, events.map(deltaOf));
      await postCache.invalidateOrThrow(...new Set(events.map((e) => e.data.postId)));
    },

    /** Recounts one post, or every post, from its rows; returns the counters that were wrong. */
    async reconcile(target: { postId: string } | 'all'): Promise<Recounted[]> {
      const fixed =
        target === 'all'
          ? await deps.counters.recountAll()
          : [await deps.counters.recount(target.postId)].flatMap((r) => (r ? [r] : []));
      if (fixed.length > 0) await postCache.invalidateOrThrow(...fixed.map((r) => r.postId));
      return fixed;
    },
  };
}

export type Counters = ReturnType<typeof counters>;
