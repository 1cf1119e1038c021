import { withInboxBatch } from '@instantpost/bus';
import {
  groupByShard,
  inTransactionPerDatabase,
  onShard,
  type ShardConn,
  type ShardSql,
  type Shards,
} from '@instantpost/shards';

const RECOUNT_BATCH = 500;

/** One like, unlike or comment as the counters see it: which post, and by how much each count moves. */
export interface CounterDelta {
  eventId: string;
  postId: string;
  likes: number;
  comments: number;
}

/** A post whose stored counts differed from its rows (and now match them). */
export interface Recounted {
  postId: string;
  likeCount: number;
  commentCount: number;
  wasLikeCount: number;
  wasCommentCount: number;
}

/**
 * The posts' like and comment counters, kept off the request path: a like or a comment only inserts its
 * own row (and its event); the counters consumer applies the events here in batches, and `recount`
 * repairs a counter from the rows.
 */
export function counterStore(shards: Shards) {
  /** Recounts the given posts of one shard from their rows; writes only the counters that differ. */
  const recountOn = async (s: ShardConn, postIds: readonly string[]): Promise<Recounted[]> => {
    const posts = s.table('posts');
    // Exact when no like or comment of the post is between its commit and its counters delta (the
    // counters consumer caught up): a recount cannot tell which rows' events are still on their way, so
    // it is the operator's repair of a quiet post, not a routine job.
    return s.sql<Recounted[]>`
      WITH counted AS (
        SELECT p.id,
          (SELECT count(*) FROM ${s.table('likes')} l WHERE l.post_id = p.id)::int AS likes,
          (SELECT count(*) FROM ${s.table('comments')} c WHERE c.post_id = p.id)::int AS comments,
          p.like_count AS was_likes, p.comment_count AS was_comments
        FROM ${posts} p WHERE p.id = ANY(${postIds as string[]}::bigint[])
      )
      UPDATE ${posts} p SET like_count = c.likes, comment_count = c.comments
      FROM counted c
      WHERE p.id = c.id AND (p.like_count <> c.likes OR p.comment_count <> c.comments)
      RETURNING p.id AS "postId", c.likes AS "likeCount", c.comments AS "commentCount",
        c.was_likes AS "wasLikeCount", c.was_comments AS "wasCommentCount"`;
  };

  /** Every post of one shard, RECOUNT_BATCH at a time in id order, so no statement runs long. */
  const recountShard = async (s: ShardSql): Promise<Recounted[]> => {
    const out: Recounted[] = [];
    let after = '0';
    for (;;) {
      const ids = await s.sql<{ id: string }[]>`
        SELECT id FROM ${s.table('posts')} WHERE id > ${after} ORDER BY id LIMIT ${RECOUNT_BATCH}`;
      const last = ids.at(-1);
      if (!last) return out;
      const batch = ids.map((r) => r.id);
      out.push(...(await onShard(s, (c) => recountOn(c, batch))));
      after = last.id;
    }
  };

  return {
    /**
     * Applies the deltas once per event for `consumer`: per shard it records the event ids in the inbox and
     * adds the sum of the new ones to each post, in one transaction per database (its shards' statements
     * pipelined), posts updated in (shard, id) order (so two batches touching the same posts cannot
     * deadlock). Returns the posts whose counts changed.
     */
    async applyDeltas(consumer: string, deltas: readonly CounterDelta[]): Promise<string[]> {
      const changed: string[] = [];
      const { groups } = groupByShard(shards, deltas, (d) => d.postId);
      await inTransactionPerDatabase(groups, async (tx, items) => {
        const fresh = await withInboxBatch(
          tx.sql,
          tx.schema,
          consumer,
          items.map((d) => d.eventId),
        );
        const sums = new Map<string, { likes: number; comments: number }>();
        for (const d of items) {
          if (!fresh.delete(d.eventId)) continue; // handled before, or twice in this batch
          const sum = sums.get(d.postId) ?? { likes: 0, comments: 0 };
          sum.likes += d.likes;
          sum.comments += d.comments;
          sums.set(d.postId, sum);
        }
        const rows = [...sums]
          .filter(([, s]) => s.likes !== 0 || s.comments !== 0)
          .sort(([a], [b]) => (BigInt(a) < BigInt(b) ? -1 : 1));
        if (rows.length === 0) return;
        const ids = rows.map(([id]) => id);
        await tx.sql`
          SELECT 1 FROM ${tx.table('posts')} WHERE id = ANY(${ids}::bigint[]) ORDER BY id FOR NO KEY UPDATE`;
        await tx.sql`
          UPDATE ${tx.table('posts')} p
          SET like_count = p.like_count + d.likes, comment_count = p.comment_count + d.comments
          FROM unnest(${ids}::bigint[], ${rows.map(([, s]) => s.likes)}::int[],
                      ${rows.map(([, s]) => s.comments)}::int[]) AS d(id, likes, comments)
          WHERE p.id = d.id`;
        changed.push(...rows.map(([id]) => id));
      });
      return changed;
    },

    /** Recounts one post's counters from its rows; undefined when they were right (or no such post). */
    async recount(postId: string): Promise<Recounted | undefined> {
      const [row] = await onShard(shards.forId(postId), (s) => recountOn(s, [postId]));
      return row;
    },

    /** Recounts every post of every shard; returns those that were wrong. */
    async recountAll(): Promise<Recounted[]> {
      const out: Recounted[] = [];
      for (const s of shards.logicalShards) out.push(...(await recountShard(shards.forShard(s))));
      return out;
    },
  };
}

export type CounterStore = ReturnType<typeof counterStore>;
