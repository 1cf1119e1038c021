import { performance } from 'node:perf_hooks';
import { defineConsumer, projectionBatching, streamNameFor } from '@instantpost/bus';
import type { EventData } from '@instantpost/events';
import { runGrouped } from '@instantpost/shards';
import type { Logger } from '@instantpost/telemetry';
import type { JetStreamManager } from 'nats';
import type { FeedProjector } from '../domain/projector.ts';
import type { LikeChange } from '../store/like-batches.ts';
import type { EdgeVersion, EventVersion } from '../store/projections.ts';

/** The version a projection row records: the event's time, then its stream sequence for ties. */
function versionOf(event: { time: string }, ctx: { streamSequence: number }): EventVersion {
  return { at: event.time, seq: ctx.streamSequence };
}

/** A follow edge's change: metadata's edge version first (clocks of its replicas may disagree). */
function edgeVersionOf(
  event: { time: string; data: { version?: number | undefined } },
  ctx: { streamSequence: number },
): EdgeVersion {
  return { edge: event.data.version ?? 0, ...versionOf(event, ctx) };
}

/** Settings shared by feed's consumers; `concurrency` is bounded by the Postgres pool (PITFALLS: postgres.js). */
export interface ConsumerOptions {
  concurrency: number;
  ackWaitMs?: number;
  /** Fan-outs are logged (size, duration): at info from this many timelines written, else at debug. */
  logger?: Logger;
  /** Each fan-out's timelines written and duration in seconds (`instantpost_fanout_*`). */
  onFanout?: (timelines: number, seconds: number) => void;
}

const LARGE_FANOUT = 1000;

/**
 * `feed-fanout`: post.published and post.deleted. A post of a 50,000-follower author is one message
 * handled in keyset batches, each batch one Redis call, with a heartbeat after each so the message stays
 * alive however long the fan-out takes.
 */
export function fanoutConsumer(projector: FeedProjector, options: ConsumerOptions) {
  return defineConsumer({
    name: 'feed-fanout',
    description: 'feed: fan-out of posts into home timelines',
    subjects: ['post.published', 'post.deleted'],
    settings: { concurrency: options.concurrency, ackWaitMs: options.ackWaitMs ?? 30_000 },
    handlers: {
      'post.published': async (event, ctx) => {
        const started = performance.now();
        const timelines = await projector.postPublished(event.data, () => ctx.heartbeat());
        const ms = performance.now() - started;
        options.onFanout?.(timelines, ms / 1000);
        const fields = { postId: event.data.postId, timelines, ms: Math.round(ms) };
        if (timelines >= LARGE_FANOUT) options.logger?.info(fields, 'fan-out');
        else options.logger?.debug(fields, 'fan-out');
      },
      'post.deleted': async (event, ctx) => {
        await projector.postDeleted(event.data, () => ctx.heartbeat());
      },
    },
  });
}

/**
 * `feed-projector`: accounts, the follow graph, likes and comments. Every write is keyed by the event's
 * time (last writer wins), so duplicates and reordering converge; Redis effects follow the stored state.
 */
export function projectorConsumer(projector: FeedProjector, options: ConsumerOptions) {
  return defineConsumer({
    name: 'feed-projector',
    description: 'feed: projections of accounts, follows, likes and comments',
    subjects: [
      'account.created',
      'account.updated',
      'follow.created',
      'follow.approved',
      'follow.deleted',
      'like.created',
      'like.deleted',
      'comment.created',
    ],
    settings: { ...projectionBatching(options.concurrency), ackWaitMs: options.ackWaitMs ?? 30_000 },
    handlers: {
      'account.created': (event, ctx) => projector.accountCreated(event.data, versionOf(event, ctx)),
      'account.updated': (event, ctx) => projector.accountUpdated(event.data, versionOf(event, ctx)),
      'follow.created': (event, ctx) =>
        projector.followChanged(
          event.data.followerId,
          event.data.followeeId,
          event.data.state,
          edgeVersionOf(event, ctx),
          () => ctx.heartbeat(),
        ),
      'follow.approved': (event, ctx) =>
        projector.followChanged(
          event.data.followerId,
          event.data.followeeId,
          'following',
          edgeVersionOf(event, ctx),
          () => ctx.heartbeat(),
        ),
      'follow.deleted': (event, ctx) =>
        projector.followChanged(
          event.data.followerId,
          event.data.followeeId,
          'none',
          edgeVersionOf(event, ctx),
          () => ctx.heartbeat(),
        ),
      'like.created': (event, ctx) => projector.likeChanged(event.data, true, versionOf(event, ctx)),
      'like.deleted': (event, ctx) => projector.likeChanged(event.data, false, versionOf(event, ctx)),
      'comment.created': (event) => projector.commentsCreated([event.data]),
    },
    // Likes and comments of a batch are projected together (one transaction per database, one count
    // update per post);
    // follows of different edges are independent (each statement locks its own edge's rows), so up to
    // EDGES_AT_ONCE edges are written at a time, each edge's events in order; the other events run through
    // their handlers, in order. Versions make the order irrelevant.
    handleBatch: async (events, ctx) => {
      const likes: LikeChange[] = [];
      const comments: EventData<'comment.created'>[] = [];
      const follows = new Map<string, (() => Promise<void>)[]>();
      for (const [i, event] of events.entries()) {
        const v = versionOf(event, { streamSequence: ctx.streamSequences[i] ?? 0 });
        if (event.type === 'like.created' || event.type === 'like.deleted') {
          const { postId, postAuthorId: authorId, userId } = event.data;
          likes.push({ postId, authorId, userId, liked: event.type === 'like.created', v });
        } else if (event.type === 'comment.created') {
          comments.push(event.data);
        } else if (event.type === 'account.created') {
          await projector.accountCreated(event.data, v);
        } else if (event.type === 'account.updated') {
          await projector.accountUpdated(event.data, v);
        } else {
          const { followerId, followeeId } = event.data;
          const state =
            event.type === 'follow.deleted'
              ? 'none'
              : event.type === 'follow.approved'
                ? 'following'
                : event.data.state;
          const edge = { edge: event.data.version ?? 0, ...v };
          const key = `${followerId}:${followeeId}`;
          follows.set(key, [
            ...(follows.get(key) ?? []),
            () => projector.followChanged(followerId, followeeId, state, edge, () => ctx.heartbeat()),
          ]);
        }
      }
      await runGrouped([[...follows.values()]], EDGES_AT_ONCE, async (changes) => {
        for (const change of changes) await change();
      });
      await projector.likesChanged(likes);
      await projector.commentsCreated(comments);
    },
  });
}

/** Follow edges a feed-projector batch writes at once (each a few statements in a row). */
const EDGES_AT_ONCE = 4;

/** feed's durable consumer names (one per stream they read; both read SOCIAL). */
export const CONSUMER_NAMES = ['feed-fanout', 'feed-projector'] as const;

/**
 * Deletes feed's durable consumers so the next start re-creates them at the beginning of SOCIAL
 * (`deliverPolicy: all`): a full replay of the projections. Run only while feed is stopped.
 */
export async function resetConsumers(jsm: JetStreamManager, prefix: string): Promise<void> {
  const stream = streamNameFor('SOCIAL', prefix);
  for (const name of CONSUMER_NAMES) {
    await jsm.consumers.delete(stream, name).catch((err: unknown) => {
      if (!(err instanceof Error && /consumer not found/i.test(err.message))) throw err;
    });
  }
}
