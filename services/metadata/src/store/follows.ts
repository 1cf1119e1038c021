import { enqueue } from '@instantpost/bus';
import type { AnyCloudEvent } from '@instantpost/events';
import { inTransaction, onShard, type Shards } from '@instantpost/shards';
import { onKnownShard } from './sql.ts';

export type EdgeState = 'following' | 'requested' | 'none';

/** The change a follow action decides on, given the current state of the edge. */
export type EdgeDecision = { state: EdgeState; event: AnyCloudEvent } | undefined;

/** Decides the edge's next state from its current one; `version` is the number the change will get. */
export type EdgeDecider = (current: EdgeState, version: number) => EdgeDecision;

export interface Counts {
  posts: number;
  followers: number;
  following: number;
}

/**
 * The follow graph. `following` on the follower's shard is the source of truth (written with its event
 * in one transaction); `followers` on the followee's shard is a versioned mirror of it.
 */
export function followStore(shards: Shards) {
  return {
    async stateOf(followerId: string, followeeId: string): Promise<EdgeState> {
      const shard = shards.forId(followerId);
      const [row] = await shard.sql<{ state: EdgeState }[]>`
        SELECT state FROM ${shard.table('following')}
        WHERE follower_id = ${followerId} AND followee_id = ${followeeId}`;
      return row?.state ?? 'none';
    },

    /**
     * Locks the edge, lets `decide` choose its next state from the current one, and writes the change
     * with its event. Returns the state after the call.
     */
    async transition(
      followerId: string,
      followeeId: string,
      decide: EdgeDecider,
    ): Promise<{ state: EdgeState; changed: boolean }> {
      if (!onKnownShard(shards, followerId) || !onKnownShard(shards, followeeId)) {
        return { state: 'none', changed: false };
      }
      const shard = shards.forId(followerId);
      return inTransaction(shard, async (tx) => {
        const table = tx.table('following');
        // Make sure a row exists to lock, so two racing follows serialize on it.
        await tx.sql`
          INSERT INTO ${table} (follower_id, followee_id, state, version)
          VALUES (${followerId}, ${followeeId}, 'none', 0) ON CONFLICT DO NOTHING`;
        const [row] = await tx.sql<{ state: EdgeState; version: string }[]>`
          SELECT state, version FROM ${table}
          WHERE follower_id = ${followerId} AND followee_id = ${followeeId} FOR UPDATE`;
        const current = row?.state ?? 'none';
        const decision = decide(current, Number(row?.version ?? 0) + 1);
        if (!decision || decision.state === current) return { state: current, changed: false };
        await tx.sql`
          UPDATE ${table} SET state = ${decision.state}, version = version + 1, updated_at = now()
          WHERE follower_id = ${followerId} AND followee_id = ${followeeId}`;
        await enqueue(tx.sql, tx.schema, decision.event);
        return { state: decision.state, changed: true };
      });
    },

    /**
     * Copies the edge from the follower's shard onto the followee's. Reads the source of truth instead
     * of trusting the event, and only ever moves to a higher version, so duplicate and reordered events
     * converge on the same result.
     */
    async mirror(followerId: string, followeeId: string): Promise<boolean> {
      if (!onKnownShard(shards, followerId) || !onKnownShard(shards, followeeId)) return false;
      const source = shards.forId(followerId);
      const [edge] = await source.sql<{ state: EdgeState; version: string }[]>`
        SELECT state, version FROM ${source.table('following')}
        WHERE follower_id = ${followerId} AND followee_id = ${followeeId}`;
      if (!edge) return false;
      const rows = await onShard(
        shards.forId(followeeId),
        (s) => s.sql`
          INSERT INTO ${s.table('followers')} AS f (followee_id, follower_id, state, version)
          VALUES (${followeeId}, ${followerId}, ${edge.state}, ${edge.version})
          ON CONFLICT (followee_id, follower_id) DO UPDATE
            SET state = excluded.state, version = excluded.version, updated_at = now()
            WHERE f.version < excluded.version
          RETURNING 1`,
      );
      return rows.length > 0;
    },

    /** Accounts `userId` follows (approved), newest id first. */
    async followingOf(userId: string, after: string | undefined, limit: number): Promise<string[]> {
      const shard = shards.forId(userId);
      const rows = await shard.sql<{ id: string }[]>`
        SELECT followee_id AS id FROM ${shard.table('following')}
        WHERE follower_id = ${userId} AND state = 'following'
          ${after === undefined ? shard.sql`` : shard.sql`AND followee_id < ${after}`}
        ORDER BY followee_id DESC LIMIT ${limit}`;
      return rows.map((r) => r.id);
    },

    /** Followers of `userId` in `state` (approved followers or pending requests), newest id first. */
    async followersOf(
      userId: string,
      state: 'following' | 'requested',
      after: string | undefined,
      limit: number,
    ): Promise<string[]> {
      const shard = shards.forId(userId);
      const rows = await shard.sql<{ id: string }[]>`
        SELECT follower_id AS id FROM ${shard.table('followers')}
        WHERE followee_id = ${userId} AND state = ${state}
          ${after === undefined ? shard.sql`` : shard.sql`AND follower_id < ${after}`}
        ORDER BY follower_id DESC LIMIT ${limit}`;
      return rows.map((r) => r.id);
    },

    /** Posts, followers and following of a user: every one lives on the user's shard. */
    async countsOf(userId: string): Promise<Counts> {
      const shard = shards.forId(userId);
      const [row] = await shard.sql<{ posts: number; followers: number; following: number }[]>`
        SELECT
          (SELECT count(*)::int FROM ${shard.table('posts')} WHERE author_id = ${userId} AND deleted_at IS NULL) AS posts,
          (SELECT count(*)::int FROM ${shard.table('followers')} WHERE followee_id = ${userId} AND state = 'following') AS followers,
          (SELECT count(*)::int FROM ${shard.table('following')} WHERE follower_id = ${userId} AND state = 'following') AS following`;
      return row ?? { posts: 0, followers: 0, following: 0 };
    },
  };
}

export type FollowStore = ReturnType<typeof followStore>;
