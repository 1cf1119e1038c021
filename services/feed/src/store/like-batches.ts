import { groupByShard, inTransactionPerDatabase, type Shards, type ShardTx } from '@instantpost/shards';
import type { PostCounts } from './cache.ts';
import { type CountsRow, countsOf, type EventVersion } from './projections.ts';

/** One like or unlike as feed's projections record it (the event's version: time, then stream sequence). */
export interface LikeChange {
  postId: string;
  authorId: string;
  userId: string;
  liked: boolean;
  v: EventVersion;
}

/** A comment as feed's projections record it: counted on its post's author's shard. */
export interface NewComment {
  commentId: string;
  postId: string;
  authorId: string;
}

const key = (a: string, b: string) => `${a}:${b}`;

/** The columns of `changes` for unnest (one row per change; duplicates are resolved in SQL, newest wins). */
function columns(changes: readonly LikeChange[]) {
  return {
    posts: changes.map((c) => c.postId),
    users: changes.map((c) => c.userId),
    liked: changes.map((c) => String(c.liked)),
    at: changes.map((c) => c.v.at),
    seq: changes.map((c) => String(c.v.seq)),
  };
}
type Columns = ReturnType<typeof columns>;

/**
 * The changes as the rows of a statement's `input`, one per (post, liker): the newest version wins, so
 * duplicates and reordered deliveries within a batch resolve as they would one by one.
 */
function newestPerPair(tx: ShardTx, col: Columns) {
  return tx.sql`
    SELECT DISTINCT ON (post_id, user_id) post_id, user_id, liked::boolean AS liked, at, seq
    FROM unnest(${col.posts}::bigint[], ${col.users}::bigint[], ${col.liked}::text[],
                ${col.at}::timestamptz[], ${col.seq}::bigint[]) AS i(post_id, user_id, liked, at, seq)
    ORDER BY post_id, user_id, at DESC, seq DESC`;
}

/** The stored counts of `postIds` (as this transaction sees them) into `counts`. */
async function readCountsInto(
  tx: ShardTx,
  postIds: readonly string[],
  counts: Map<string, PostCounts>,
): Promise<void> {
  const rows = await tx.sql<CountsRow[]>`
    SELECT post_id, like_count, comment_count, version FROM ${tx.table('post_counts')}
    WHERE post_id = ANY(${[...new Set(postIds)]}::bigint[])`;
  for (const r of rows) counts.set(r.post_id, countsOf(r));
}

/**
 * Likes projected in batches, with the effect of `writePostLike` / `writeViewerLike` (store/projections.ts)
 * applied to each change: per (post, liker) the newest version wins, and a post's like count moves by the
 * flips of its likers. One transaction per database for the whole batch (its author shards' statements
 * pipelined on one connection), rows locked in (shard, key) order (two batches cannot deadlock), and one counter update per post instead of one per like: a hot post's
 * likes no longer serialize on its count row.
 */
export function likeBatchStore(shards: Shards) {
  return {
    /**
     * Applies the changes on each post author's shard; the counts of every post of the batch as committed
     * (moved or not: a redelivered batch reports them again, so the cache can be repaired).
     */
    async writePostLikes(changes: readonly LikeChange[]): Promise<Map<string, PostCounts>> {
      const counts = new Map<string, PostCounts>();
      const { groups } = groupByShard(shards, changes, (c) => c.authorId);
      await inTransactionPerDatabase(groups, async (tx, items) => {
        const col = columns(items);
        const t = tx.table('post_likes');
        // A placeholder older than every event, so the rows exist to be locked (as writePostLike).
        await tx.sql`
          INSERT INTO ${t} (post_id, user_id, liked, at)
          SELECT DISTINCT post_id, user_id, false, '-infinity'::timestamptz
          FROM unnest(${col.posts}::bigint[], ${col.users}::bigint[]) AS i(post_id, user_id)
          ORDER BY post_id, user_id
          ON CONFLICT DO NOTHING`;
        type Row = {
          post_id: string;
          user_id: string;
          was: boolean;
          liked: boolean;
          at: string;
          seq: string;
        };
        const newer = await tx.sql<Row[]>`
          WITH input AS (${newestPerPair(tx, col)}), locked AS (
            SELECT t.post_id, t.user_id, t.liked, t.at, t.seq FROM ${t} t
            JOIN input i ON i.post_id = t.post_id AND i.user_id = t.user_id
            ORDER BY t.post_id, t.user_id FOR UPDATE OF t
          )
          SELECT i.post_id, i.user_id, l.liked AS was, i.liked, i.at::text AS at, i.seq
          FROM input i JOIN locked l ON l.post_id = i.post_id AND l.user_id = i.user_id
          WHERE (l.at, l.seq) < (i.at, i.seq)`;
        const readCounts = () => readCountsInto(tx, col.posts, counts);
        if (newer.length === 0) {
          await readCounts();
          return;
        }
        await tx.sql`
          UPDATE ${t} t SET liked = n.liked::boolean, at = n.at, seq = n.seq
          FROM unnest(${newer.map((r) => r.post_id)}::bigint[], ${newer.map((r) => r.user_id)}::bigint[],
                      ${newer.map((r) => String(r.liked))}::text[], ${newer.map((r) => r.at)}::timestamptz[],
                      ${newer.map((r) => r.seq)}::bigint[]) AS n(post_id, user_id, liked, at, seq)
          WHERE t.post_id = n.post_id AND t.user_id = n.user_id`;
        const moved = new Map<string, number>();
        for (const r of newer) {
          const d = Number(r.liked) - Number(r.was);
          if (d !== 0) moved.set(r.post_id, (moved.get(r.post_id) ?? 0) + d);
        }
        const rows = [...moved].filter(([, d]) => d !== 0);
        if (rows.length > 0)
          await tx.sql`
          INSERT INTO ${tx.table('post_counts')} (post_id, like_count, version)
          SELECT post_id, delta, 1 FROM unnest(${rows.map(([id]) => id)}::bigint[], ${rows.map(([, d]) => d)}::int[])
            AS m(post_id, delta)
          ORDER BY 1
          ON CONFLICT (post_id) DO UPDATE SET like_count = ${tx.table('post_counts')}.like_count + excluded.like_count,
            version = ${tx.table('post_counts')}.version + 1`;
        await readCounts();
      });
      return counts;
    },

    /**
     * Comments, each counted once (a comment sent twice moves nothing): per post author's shard one statement
     * records them and moves each post's comment count by its new ones; the counts of every post of the
     * batch as committed (duplicates included, so a redelivered batch repairs the cache).
     */
    async addComments(comments: readonly NewComment[]): Promise<Map<string, PostCounts>> {
      const counts = new Map<string, PostCounts>();
      const { groups } = groupByShard(shards, comments, (c) => c.authorId);
      await inTransactionPerDatabase(groups, async (tx, items) => {
        const t = tx.table('post_counts');
        await tx.sql`
          WITH added AS (
            INSERT INTO ${tx.table('post_comments')} (comment_id, post_id)
            SELECT * FROM unnest(${items.map((c) => c.commentId)}::bigint[], ${items.map((c) => c.postId)}::bigint[])
            ON CONFLICT DO NOTHING RETURNING post_id
          )
          INSERT INTO ${t} (post_id, comment_count, version)
          SELECT post_id, count(*), 1 FROM added GROUP BY post_id ORDER BY post_id
          ON CONFLICT (post_id) DO UPDATE SET comment_count = ${t}.comment_count + excluded.comment_count,
            version = ${t}.version + 1`;
        await readCountsInto(
          tx,
          items.map((c) => c.postId),
          counts,
        );
      });
      return counts;
    },

    /** Records the changes on each liker's shard; every (liker, post)'s current state, keyed `user:post`. */
    async writeViewerLikes(changes: readonly LikeChange[]): Promise<Map<string, boolean>> {
      const current = new Map<string, boolean>();
      const { groups } = groupByShard(shards, changes, (c) => c.userId);
      await inTransactionPerDatabase(groups, async (s, items) => {
        const t = s.table('viewer_likes');
        const rows = await s.sql<{ user_id: string; post_id: string; liked: boolean }[]>`
          WITH input AS (${newestPerPair(s, columns(items))}), written AS (
            INSERT INTO ${t} (user_id, post_id, liked, at, seq)
            SELECT user_id, post_id, liked, at, seq FROM input ORDER BY user_id, post_id
            ON CONFLICT (user_id, post_id) DO UPDATE
              SET liked = excluded.liked, at = excluded.at, seq = excluded.seq
              WHERE (${t}.at, ${t}.seq) < (excluded.at, excluded.seq)
            RETURNING user_id, post_id, liked
          )
          SELECT i.user_id, i.post_id, coalesce(w.liked, v.liked, false) AS liked FROM input i
          LEFT JOIN written w ON w.user_id = i.user_id AND w.post_id = i.post_id
          LEFT JOIN ${t} v ON v.user_id = i.user_id AND v.post_id = i.post_id`;
        for (const r of rows) current.set(key(r.user_id, r.post_id), r.liked);
      });
      return current;
    },
  };
}

export type LikeBatchStore = ReturnType<typeof likeBatchStore>;
