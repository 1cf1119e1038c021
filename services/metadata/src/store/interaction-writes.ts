import {
  enqueue,
  LOCAL_WAKE_SETTING,
  type OutboxRow,
  outboxRows,
  relayedHere,
  wakeRelaysHere,
} from '@instantpost/bus';
import type { AnyCloudEvent } from '@instantpost/events';
import { inTransaction, onShard, type ShardConn, type Shards, type ShardTx } from '@instantpost/shards';
import { traceparentOf } from '@instantpost/telemetry';
import { GroupCommit } from './group-commit.ts';
import type { CommentRow, StoredMention } from './posts.ts';

export type LikeOutcome = 'changed' | 'unchanged' | 'missing';

interface LikeOp {
  kind: 'like' | 'unlike';
  postId: string;
  userId: string;
  /** The post's author as the request found it (authors never change); the write checks it. */
  authorId: string;
  /** The outbox row of the event, written only when the like changes something. */
  row: OutboxRow;
}

interface CommentOp {
  kind: 'comment';
  postId: string;
  authorId: string;
  text: string;
  mentions: StoredMention[];
  traceparent: string | undefined;
  eventFor(comment: CommentRow, postAuthorId: string): AnyCloudEvent;
}

type Op = LikeOp | CommentOp;
type Outcome = LikeOutcome | CommentRow | undefined;

/** The request's trace on its event: the batch's transaction runs in another request's context. */
const tracedBy = (event: AnyCloudEvent, traceparent: string | undefined): AnyCloudEvent =>
  traceparent && !event.traceparent ? { ...event, traceparent } : event;

/**
 * Likes and unlikes of one batch (distinct post × user pairs) with the events of those that changed
 * something, in ONE statement: on its own it commits atomically (no BEGIN/COMMIT round trips), inside a
 * transaction it is part of it. Outcome per op. With `wakeHere` (this process relays the shard) its
 * transaction skips the outbox trigger's NOTIFY: the caller wakes the relay after the commit (libs/bus
 * local-wake).
 */
async function writeLikes(s: ShardConn, ops: readonly LikeOp[], wakeHere: boolean): Promise<LikeOutcome[]> {
  if (ops.length === 0) return [];
  // lock order: every batch inserts/deletes its rows in (post, user) order
  const order = ops.map((_, i) => i).sort((a, b) => compareKeys(ops[a] as LikeOp, ops[b] as LikeOp));
  const at = (i: number) => ops[i] as LikeOp;
  type Row = { ord: number; live: boolean; changed: boolean };
  // A plain read of the post (no row lock): likes of one post proceed in parallel. A like racing the
  // post's deletion may land; it is never shown.
  const rows = await s.sql<Row[]>`
    WITH input AS (
      SELECT * FROM unnest(${order}::int[], ${order.map((i) => at(i).kind)}::text[],
        ${order.map((i) => at(i).postId)}::bigint[], ${order.map((i) => at(i).userId)}::bigint[],
        ${order.map((i) => at(i).authorId)}::bigint[], ${order.map((i) => at(i).row.event_id)}::text[],
        ${order.map((i) => at(i).row.subject)}::text[], ${order.map((i) => at(i).row.payload)}::text[],
        ${order.map((i) => at(i).row.traceparent)}::text[])
        AS i(ord, kind, post_id, user_id, author_id, event_id, subject, payload, traceparent)
    ), live AS (
      SELECT i.* FROM input i
      JOIN ${s.table('posts')} p ON p.id = i.post_id AND p.author_id = i.author_id AND p.deleted_at IS NULL
    ), added AS (
      INSERT INTO ${s.table('likes')} (post_id, user_id)
      SELECT post_id, user_id FROM live WHERE kind = 'like' ORDER BY post_id, user_id
      ON CONFLICT DO NOTHING RETURNING post_id, user_id
    ), removed AS (
      DELETE FROM ${s.table('likes')} l USING live
      WHERE live.kind = 'unlike' AND l.post_id = live.post_id AND l.user_id = live.user_id
      RETURNING l.post_id, l.user_id
    ), changed AS (
      SELECT post_id, user_id FROM added UNION ALL SELECT post_id, user_id FROM removed
    ), wake AS (
      SELECT set_config(${LOCAL_WAKE_SETTING}, ${wakeHere ? 'local' : 'notify'}, true)
    ), sent AS (
      INSERT INTO ${s.table('outbox')} (event_id, subject, payload, traceparent)
      SELECT i.event_id, i.subject, i.payload, i.traceparent FROM input i
      JOIN changed c ON c.post_id = i.post_id AND c.user_id = i.user_id
      ORDER BY i.ord
      RETURNING 1
    )
    SELECT i.ord, live.ord IS NOT NULL AS live, c.post_id IS NOT NULL AS changed FROM input i CROSS JOIN wake
    LEFT JOIN live ON live.ord = i.ord
    LEFT JOIN changed c ON c.post_id = i.post_id AND c.user_id = i.user_id`;
  const out: LikeOutcome[] = ops.map(() => 'missing');
  for (const row of rows) out[row.ord] = !row.live ? 'missing' : row.changed ? 'changed' : 'unchanged';
  return out;
}

/** Comments of one batch, ids minted on the shard, in one statement; the row (or undefined) per op. */
async function writeComments(tx: ShardTx, ops: readonly CommentOp[]): Promise<(CommentRow | undefined)[]> {
  if (ops.length === 0) return [];
  type Row = CommentRow & { ord: number; post_author_id: string };
  const rows = await tx.sql<Row[]>`
    WITH input AS (
      SELECT * FROM unnest(${ops.map((_, i) => i)}::int[], ${ops.map((o) => o.postId)}::bigint[],
        ${ops.map((o) => o.authorId)}::bigint[], ${ops.map((o) => o.text)}::text[],
        ${ops.map((o) => JSON.stringify(o.mentions))}::text[]) AS i(ord, post_id, author_id, text, mentions)
    ), fresh AS (
      SELECT ${tx.sql(tx.schema)}.next_id() AS id, i.ord, i.post_id, i.author_id, i.text, i.mentions::jsonb AS mentions,
        p.author_id AS post_author_id
      FROM input i JOIN ${tx.table('posts')} p ON p.id = i.post_id AND p.deleted_at IS NULL
      ORDER BY i.ord
    ), done AS (
      INSERT INTO ${tx.table('comments')} (id, post_id, author_id, text, mentions)
      SELECT id, post_id, author_id, text, mentions FROM fresh
      RETURNING id, created_at
    )
    SELECT f.ord, f.id, f.post_id, f.author_id, f.text, f.mentions, done.created_at, f.post_author_id
    FROM fresh f JOIN done ON done.id = f.id`;
  const out: (CommentRow | undefined)[] = ops.map(() => undefined);
  const events: AnyCloudEvent[] = [];
  for (const { ord, post_author_id: postAuthorId, ...row } of rows) {
    const op = ops[ord] as CommentOp;
    out[ord] = row;
    events.push(tracedBy(op.eventFor(row, postAuthorId), op.traceparent));
  }
  await enqueue(tx.sql, tx.schema, events);
  return out;
}

function compareKeys(a: LikeOp, b: LikeOp): number {
  const pa = BigInt(a.postId);
  const pb = BigInt(b.postId);
  if (pa !== pb) return pa < pb ? -1 : 1;
  const ua = BigInt(a.userId);
  const ub = BigInt(b.userId);
  return ua === ub ? 0 : ua < ub ? -1 : 1;
}

/**
 * Likes, unlikes and comments written by group commit (store/group-commit.ts): per logical shard, the
 * requests that arrive while its transaction is in flight are written together by the next one (rows and
 * outbox events, multi-row statements), each answered after that commit. The posts' counters follow from
 * the events (store/counters.ts), so a hot post costs one row per like here, never a row lock.
 */
export function interactionWrites(shards: Shards, options: { maxBatch?: number } = {}) {
  let commentKey = 0;
  const commit = new GroupCommit<Op, Outcome>({
    maxBatch: options.maxBatch ?? 256,
    perDatabase: shards.poolMax,
    databaseOf: (shard) => shards.forShard(shard).database,
    conflictKey: (op) => (op.kind === 'comment' ? `c${commentKey++}` : `${op.postId}:${op.userId}`),
    write: async (shard, ops) => {
      const likes = ops.filter((o): o is LikeOp => o.kind !== 'comment');
      const comments = ops.filter((o): o is CommentOp => o.kind === 'comment');
      const results = new Map<Op, Outcome>();
      const set = <O extends Op>(list: O[], outcomes: Outcome[]) => {
        list.forEach((o, i) => {
          results.set(o, outcomes[i]);
        });
      };
      const target = shards.forShard(shard);
      const wakeHere = relayedHere(target.schema);
      if (comments.length === 0) {
        // the usual batch of a like storm: one statement, one round trip, one commit
        set(likes, await onShard(target, (s) => writeLikes(s, likes, wakeHere)));
      } else {
        await inTransaction(target, async (tx) => {
          set(likes, await writeLikes(tx, likes, wakeHere));
          set(comments, await writeComments(tx, comments));
        });
      }
      if (wakeHere) wakeRelaysHere([target.schema]);
      return ops.map((o) => results.get(o));
    },
  });

  return {
    /**
     * Likes or unlikes; idempotent ('unchanged', no event), 'missing' when the post is not live (or is not
     * `postAuthorId`'s). The event is built and validated now, written only if the like changes something.
     */
    setLike(
      postId: string,
      userId: string,
      liked: boolean,
      postAuthorId: string,
      eventFor: (postAuthorId: string) => AnyCloudEvent,
    ): Promise<LikeOutcome> {
      const [row] = outboxRows([tracedBy(eventFor(postAuthorId), traceparentOf())]);
      if (!row) throw new Error('no outbox row for the event');
      const op: LikeOp = { kind: liked ? 'like' : 'unlike', postId, userId, authorId: postAuthorId, row };
      return commit.submit(shards.forId(postId).shard, op) as Promise<LikeOutcome>;
    },

    /** Adds a comment with its event; undefined when the post is not live. */
    addComment(
      postId: string,
      authorId: string,
      text: string,
      mentions: StoredMention[],
      eventFor: (comment: CommentRow, postAuthorId: string) => AnyCloudEvent,
    ): Promise<CommentRow | undefined> {
      const op: CommentOp = {
        kind: 'comment',
        postId,
        authorId,
        text,
        mentions,
        traceparent: traceparentOf(),
        eventFor,
      };
      return commit.submit(shards.forId(postId).shard, op) as Promise<CommentRow | undefined>;
    },
  };
}

export type InteractionWrites = ReturnType<typeof interactionWrites>;
