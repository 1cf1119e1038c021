import {
  groupByShard,
  inTransaction,
  onShard,
  type ShardConn,
  type Shards,
  type ShardTx,
} from '@instantpost/shards';
import type { AccountName, PostCounts, PostSummary, StoredPost } from './cache.ts';
import type { TimelineEntry } from './keys.ts';

export type FollowState = 'following' | 'requested' | 'none';

/**
 * Which event last wrote a row: its CloudEvent time, then (for ties) its SOCIAL stream sequence. A write
 * applies only when its version is higher than the row's.
 */
export interface EventVersion {
  at: string;
  seq: number;
}

/** A follow edge's change: the owner's edge version first (0 when the event carried none), then time. */
export interface EdgeVersion extends EventVersion {
  edge: number;
}

/** The result of a last-writer-wins write: whether it applied and the state before and after. */
export interface EdgeChange {
  applied: boolean;
  before: FollowState;
  after: FollowState;
}

interface PostRow {
  post_id: string;
  author_id: string;
  created_at: Date;
  caption: string;
  hashtags: string[];
  mentions: { userId: string; username: string }[];
  alt_text: string | null;
  media: PostSummary['media'];
  like_count: number | null;
  comment_count: number | null;
  version: string | null;
}

/** A `post_counts` row as postgres.js returns it (bigint `version` as a string). */
export type CountsRow = { post_id: string; like_count: number; comment_count: number; version: string };

export function countsOf(r: CountsRow): PostCounts {
  return { likeCount: r.like_count, commentCount: r.comment_count, version: Number(r.version) };
}

/**
 * Last-writer-wins on one edge row of `table` (`followers` or `following`), as two statements outside a
 * transaction (2 round trips where BEGIN, insert, lock, update and COMMIT took 5-6): the row is created
 * as 'none' at version 0 / -infinity if absent (committed at once, so the next statement always finds it),
 * then, in one statement, locked, changed only when the change's (edge version, time, sequence) is higher
 * than the row's, and — for `followers` — the followee's approved count moved by the change. A crash
 * between the two leaves a 'none' row, which reads as no edge. Both are safe to run again (fence retries).
 */
async function writeEdge(
  s: ShardConn,
  table: 'followers' | 'following',
  key: { a: string; b: string },
  state: FollowState,
  v: EdgeVersion,
): Promise<EdgeChange & { followers: number }> {
  const sql = s.sql;
  const t = s.table(table);
  const [colA, colB] =
    table === 'followers' ? ['followee_id', 'follower_id'] : ['follower_id', 'followee_id'];
  await sql`INSERT INTO ${t} (${sql(colA)}, ${sql(colB)}, state, at) VALUES (${key.a}, ${key.b}, 'none', '-infinity')
            ON CONFLICT DO NOTHING`;
  const counts = s.table('follower_counts');
  const [row] = await sql<{ before: FollowState; applied: boolean; followers: number | null }[]>`
    WITH prev AS (
      SELECT state, (edge_version, at, seq) < (${v.edge}::bigint, ${v.at}::timestamptz, ${v.seq}::bigint) AS newer
      FROM ${t} WHERE ${sql(colA)} = ${key.a} AND ${sql(colB)} = ${key.b} FOR UPDATE
    ), changed AS (
      UPDATE ${t} SET state = ${state}, edge_version = ${v.edge}, at = ${v.at}, seq = ${v.seq}
      FROM prev WHERE prev.newer AND ${sql(colA)} = ${key.a} AND ${sql(colB)} = ${key.b}
      RETURNING 1
    ), counted AS (
      INSERT INTO ${counts} (user_id, followers)
      SELECT ${key.a}, CASE WHEN prev.newer
        THEN (${state} = 'following')::int - (prev.state = 'following')::int ELSE 0 END
      FROM prev WHERE ${table === 'followers'}
      ON CONFLICT (user_id) DO UPDATE SET followers = ${counts}.followers + EXCLUDED.followers
      RETURNING followers
    )
    SELECT prev.state AS before, prev.newer AS applied, (SELECT followers FROM counted) AS followers FROM prev`;
  if (!row) throw new Error(`${table} row vanished`);
  return {
    applied: row.applied,
    before: row.before,
    after: row.applied ? state : row.before,
    followers: row.followers ?? 0,
  };
}

/**
 * Moves a post's like count by `delta` (0: moves nothing) on the author's shard, in the transaction that
 * changed it; returns the post's counts as they are now. (A batch's comments: like-batches.ts addComments.)
 */
async function bumpLikeCount(s: ShardTx, postId: string, delta: number): Promise<PostCounts> {
  const tx = s.sql;
  const t = s.table('post_counts');
  const [row] =
    delta === 0
      ? await tx<
          CountsRow[]
        >`SELECT post_id, like_count, comment_count, version FROM ${t} WHERE post_id = ${postId}`
      : await tx<CountsRow[]>`
        INSERT INTO ${t} (post_id, like_count, version) VALUES (${postId}, ${delta}, 1)
        ON CONFLICT (post_id) DO UPDATE SET like_count = ${t}.like_count + ${delta}, version = ${t}.version + 1
        RETURNING post_id, like_count, comment_count, version`;
  return row ? countsOf(row) : { likeCount: 0, commentCount: 0, version: 0 };
}

/** feed's Postgres projections. Every write is idempotent and order-independent (see the migration). */
export function projectionStore(shards: Shards) {
  return {
    // --- accounts ---

    async putAccount(
      userId: string,
      fields: { username?: string; displayName?: string },
      v: EventVersion,
    ): Promise<void> {
      // Each statement is idempotent, so a fenced run repeats them all on the shard's new database.
      await onShard(shards.forId(userId), async (s) => {
        const t = s.table('accounts');
        await s.sql`INSERT INTO ${t} (user_id) VALUES (${userId}) ON CONFLICT DO NOTHING`;
        if (fields.username !== undefined) {
          await s.sql`UPDATE ${t} SET username = ${fields.username}, username_at = ${v.at}, username_seq = ${v.seq}
                    WHERE user_id = ${userId}
                      AND (username_at, username_seq) < (${v.at}::timestamptz, ${v.seq}::bigint)`;
        }
        if (fields.displayName !== undefined) {
          await s.sql`UPDATE ${t} SET display_name = ${fields.displayName}, display_at = ${v.at}, display_seq = ${v.seq}
                    WHERE user_id = ${userId}
                      AND (display_at, display_seq) < (${v.at}::timestamptz, ${v.seq}::bigint)`;
        }
      });
    },

    async accounts(userIds: readonly string[]): Promise<Map<string, AccountName>> {
      const out = new Map<string, AccountName>();
      for (const { shard: s, items: ids } of groupByShard(shards, userIds).groups) {
        const rows = await s.sql<{ user_id: string; username: string; display_name: string | null }[]>`
        SELECT user_id, username, display_name FROM ${s.table('accounts')}
        WHERE user_id = ANY(${ids}::bigint[]) AND username IS NOT NULL`;
        for (const r of rows) out.set(r.user_id, { username: r.username, displayName: r.display_name ?? '' });
      }
      return out;
    },

    // --- follows ---

    /** Writes the edge on the followee's shard and moves the approved-follower count with it. */
    async writeFollower(
      followeeId: string,
      followerId: string,
      state: FollowState,
      v: EdgeVersion,
    ): Promise<EdgeChange & { followers: number }> {
      return onShard(shards.forId(followeeId), (s) =>
        writeEdge(s, 'followers', { a: followeeId, b: followerId }, state, v),
      );
    },

    /** Writes the edge on the follower's shard. */
    async writeFollowing(
      followerId: string,
      followeeId: string,
      state: FollowState,
      v: EdgeVersion,
    ): Promise<EdgeChange> {
      return onShard(shards.forId(followerId), (s) =>
        writeEdge(s, 'following', { a: followerId, b: followeeId }, state, v),
      );
    },

    async followState(followerId: string, followeeId: string): Promise<FollowState> {
      const s = shards.forId(followerId);
      const [row] = await s.sql<{ state: FollowState }[]>`
      SELECT state FROM ${s.table('following')} WHERE follower_id = ${followerId} AND followee_id = ${followeeId}`;
      return row?.state ?? 'none';
    },

    /** Approved followers of `userId` with ids above `afterId`, ascending (keyset pages for fan-out). */
    async approvedFollowers(userId: string, afterId: string, limit: number): Promise<string[]> {
      const s = shards.forId(userId);
      const rows = await s.sql<{ follower_id: string }[]>`
      SELECT follower_id FROM ${s.table('followers')}
      WHERE followee_id = ${userId} AND state = 'following' AND follower_id > ${afterId}
      ORDER BY follower_id LIMIT ${limit}`;
      return rows.map((r) => r.follower_id);
    },

    /** Which of `followerIds` no longer follow `userId` (approved), e.g. unfollowed during a fan-out. */
    async noLongerFollowing(userId: string, followerIds: readonly string[]): Promise<string[]> {
      const s = shards.forId(userId);
      const rows = await s.sql<{ follower_id: string }[]>`
      SELECT follower_id FROM ${s.table('followers')}
      WHERE followee_id = ${userId} AND follower_id = ANY(${followerIds}::bigint[]) AND state <> 'following'`;
      return rows.map((r) => r.follower_id);
    },

    async followerCount(userId: string): Promise<number> {
      const s = shards.forId(userId);
      const [row] = await s.sql<{ followers: number }[]>`
      SELECT followers FROM ${s.table('follower_counts')} WHERE user_id = ${userId}`;
      return row?.followers ?? 0;
    },

    /** Accounts `userId` follows (approved). */
    async followees(userId: string): Promise<string[]> {
      const s = shards.forId(userId);
      const rows = await s.sql<{ followee_id: string }[]>`
      SELECT followee_id FROM ${s.table('following')} WHERE follower_id = ${userId} AND state = 'following'`;
      return rows.map((r) => r.followee_id);
    },

    /** Every account with more than `threshold` approved followers, across all shards. */
    async bigAccounts(threshold: number): Promise<string[]> {
      const lists = await shards.fanOut(async (s) => {
        const rows = await s.sql<{ user_id: string }[]>`
        SELECT user_id FROM ${s.table('follower_counts')} WHERE followers > ${threshold}`;
        return rows.map((r) => r.user_id);
      });
      return lists.flat();
    },

    /** Every user known to feed (accounts or follow edges), for a rebuild of all timelines. */
    async allUsers(afterId: string, limit: number): Promise<string[]> {
      const lists = await shards.fanOut(async (s) => {
        const rows = await s.sql<{ user_id: string }[]>`
        SELECT user_id FROM ${s.table('accounts')} WHERE user_id > ${afterId}
        UNION SELECT DISTINCT follower_id FROM ${s.table('following')} WHERE follower_id > ${afterId}
        ORDER BY 1 LIMIT ${limit}`;
        return rows.map((r) => r.user_id);
      });
      return lists
        .flat()
        .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1))
        .slice(0, limit);
    },

    // --- posts ---

    /** Stores a published post; returns false when it was deleted first (the tombstone wins). */
    async publishPost(p: PostSummary): Promise<boolean> {
      const [row] = await onShard(
        shards.forId(p.authorId),
        (s) => s.sql<{ deleted: boolean }[]>`
      INSERT INTO ${s.table('posts')}
        (post_id, author_id, created_at, caption, hashtags, mentions, alt_text, media, published)
      VALUES (${p.id}, ${p.authorId}, ${p.createdAt}, ${p.caption}, ${s.sql.json(p.hashtags)},
              ${s.sql.json(p.mentions)}, ${p.altText}, ${s.sql.json(p.media)}, true)
      ON CONFLICT (post_id) DO UPDATE SET
        author_id = excluded.author_id, created_at = excluded.created_at, caption = excluded.caption,
        hashtags = excluded.hashtags, mentions = excluded.mentions, alt_text = excluded.alt_text,
        media = excluded.media, published = true
      RETURNING deleted`,
      );
      return row?.deleted === false;
    },

    async deletePost(postId: string, authorId: string): Promise<void> {
      await onShard(
        shards.forId(authorId),
        (s) => s.sql`
      INSERT INTO ${s.table('posts')} (post_id, author_id, deleted) VALUES (${postId}, ${authorId}, true)
      ON CONFLICT (post_id) DO UPDATE SET deleted = true`,
      );
    },

    /** The newest `limit` visible posts of each author. */
    async recentPosts(authorIds: readonly string[], limit: number): Promise<TimelineEntry[]> {
      const out: TimelineEntry[] = [];
      for (const { shard: s, items: ids } of groupByShard(shards, authorIds).groups) {
        const rows = await s.sql<{ post_id: string; author_id: string }[]>`
        SELECT p.post_id, p.author_id FROM unnest(${ids}::bigint[]) AS a(id)
        CROSS JOIN LATERAL (
          SELECT post_id, author_id FROM ${s.table('posts')}
          WHERE author_id = a.id AND published AND NOT deleted
          ORDER BY post_id DESC LIMIT ${limit}) p`;
        for (const r of rows) out.push({ postId: r.post_id, authorId: r.author_id });
      }
      return out;
    },

    /** Visible posts with their counts (deleted and unknown ones are left out). */
    async posts(entries: readonly TimelineEntry[]): Promise<Map<string, StoredPost>> {
      const out = new Map<string, StoredPost>();
      for (const { shard: s, items } of groupByShard(shards, entries, (e) => e.authorId).groups) {
        const ids = items.map((e) => e.postId);
        const rows = await s.sql<PostRow[]>`
        SELECT p.post_id, p.author_id, p.created_at, p.caption, p.hashtags, p.mentions, p.alt_text, p.media,
               c.like_count, c.comment_count, c.version
        FROM ${s.table('posts')} p LEFT JOIN ${s.table('post_counts')} c USING (post_id)
        WHERE p.post_id = ANY(${ids}::bigint[]) AND p.published AND NOT p.deleted`;
        for (const r of rows) {
          out.set(r.post_id, {
            summary: {
              id: r.post_id,
              authorId: r.author_id,
              caption: r.caption,
              hashtags: r.hashtags,
              mentions: r.mentions,
              altText: r.alt_text,
              createdAt: r.created_at.toISOString(),
              media: r.media,
            },
            likeCount: r.like_count ?? 0,
            commentCount: r.comment_count ?? 0,
            countsVersion: Number(r.version ?? 0),
          });
        }
      }
      return out;
    },

    // --- likes and comments ---

    /** Records (post, user) liked or not on the author's shard; returns the post's counts after it. */
    async writePostLike(
      post: TimelineEntry,
      userId: string,
      liked: boolean,
      v: EventVersion,
    ): Promise<PostCounts> {
      const postId = post.postId;
      const s = shards.forId(post.authorId);
      return inTransaction(s, async (shardTx) => {
        const tx = shardTx.sql;
        const t = shardTx.table('post_likes');
        await tx`INSERT INTO ${t} (post_id, user_id, liked, at) VALUES (${postId}, ${userId}, false, '-infinity')
               ON CONFLICT DO NOTHING`;
        const [row] = await tx<{ liked: boolean; newer: boolean }[]>`
        SELECT liked, (at, seq) < (${v.at}::timestamptz, ${v.seq}::bigint) AS newer FROM ${t}
        WHERE post_id = ${postId} AND user_id = ${userId} FOR UPDATE`;
        if (!row?.newer) return bumpLikeCount(shardTx, postId, 0);
        await tx`UPDATE ${t} SET liked = ${liked}, at = ${v.at}, seq = ${v.seq} WHERE post_id = ${postId} AND user_id = ${userId}`;
        return bumpLikeCount(shardTx, postId, Number(liked) - Number(row.liked));
      });
    },

    /** Records the like on the viewer's shard; returns the viewer's current state for that post. */
    async writeViewerLike(userId: string, postId: string, liked: boolean, v: EventVersion): Promise<boolean> {
      return onShard(shards.forId(userId), async (s) => {
        const t = s.table('viewer_likes');
        const [row] = await s.sql<{ liked: boolean }[]>`
        INSERT INTO ${t} (user_id, post_id, liked, at, seq) VALUES (${userId}, ${postId}, ${liked}, ${v.at}, ${v.seq})
        ON CONFLICT (user_id, post_id) DO UPDATE SET liked = excluded.liked, at = excluded.at, seq = excluded.seq
          WHERE (${t}.at, ${t}.seq) < (excluded.at, excluded.seq)
        RETURNING liked`;
        if (row) return row.liked;
        const [current] = await s.sql<{ liked: boolean }[]>`
        SELECT liked FROM ${t} WHERE user_id = ${userId} AND post_id = ${postId}`;
        return current?.liked ?? false;
      });
    },

    /** The viewer's most recent liked posts (what the liked cache holds). */
    async likedPosts(userId: string, limit: number): Promise<string[]> {
      const s = shards.forId(userId);
      const rows = await s.sql<{ post_id: string }[]>`
      SELECT post_id FROM ${s.table('viewer_likes')} WHERE user_id = ${userId} AND liked
      ORDER BY post_id DESC LIMIT ${limit}`;
      return rows.map((r) => r.post_id);
    },
  };
}

export type ProjectionStore = ReturnType<typeof projectionStore>;

/** Every projection table, emptied by a full replay (the bus's inbox too, so replayed events apply again). */
export const PROJECTION_TABLES = [
  'accounts',
  'followers',
  'follower_counts',
  'following',
  'posts',
  'post_counts',
  'post_likes',
  'post_comments',
  'viewer_likes',
] as const;

/** Empties every projection table of every shard (operator replay: the stream then refills them). */
export async function truncateProjections(shards: Shards): Promise<void> {
  await shards.fanOut(async (shard) => {
    const tables = [...PROJECTION_TABLES, 'inbox'].map((t) => `"${shard.schema}"."${t}"`).join(', ');
    await onShard(shard, (s) => s.sql.unsafe(`TRUNCATE ${tables}`));
  });
}
