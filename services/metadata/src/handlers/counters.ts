import { defineConsumer, projectionBatching } from '@instantpost/bus';
import type { Counters } from '../domain/counters.ts';

/**
 * Applies likes, unlikes and comments to their posts' counters (the request only wrote its row and its
 * event). Starts at the events published after it was first created: counters written before this
 * consumer existed already include theirs (run `npm run reconcile` once after upgrading).
 */
export function countersConsumer(counters: Counters) {
  return defineConsumer({
    name: 'metadata-counters',
    description: "applies likes, unlikes and comments to their posts' counters",
    subjects: ['like.created', 'like.deleted', 'comment.created'],
    // A failed cache drop (Redis away) retries every few seconds for about ten minutes, as metadata-cache.
    settings: {
      ...projectionBatching(2),
      deliverPolicy: 'new',
      maxDeliver: 200,
      retryBackoff: { initialMs: 500, maxMs: 3000 },
    },
    handlers: {
      'like.created': async (event, ctx) => counters.apply(ctx.consumer, [event]),
      'like.deleted': async (event, ctx) => counters.apply(ctx.consumer, [event]),
      'comment.created': async (event, ctx) => counters.apply(ctx.consumer, [event]),
    },
    // A hot post's likes become one UPDATE per batch instead of one per like.
    handleBatch: async (events, ctx) => counters.apply(ctx.consumer, events),
  });
}
