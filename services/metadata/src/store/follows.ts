import { outboxRows } from '@instantpost/bus';
import type { AnyCloudEvent } from '@instantpost/events';
import { groupByShard, onShard, type Shards } from '@instantpost/shards';
import { onKnownShard } from './sql.ts';

export type EdgeState = 'following' | 'requested' | 'none';

/** A follow edge: who follows whom. */
export interface Edge {
  followerId: string;
  followeeId: string;
}

/** Tries of an edge change whose version moved under it before it gives up (each miss is another change). */
const MAX_ATTEMPTS = 50;

const compareIds = (a: string, b: string) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

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
     * Every edge of `followerId` that is not 'none' (followee → state), or undefined when there are more
     * than `max` (then callers ask edge by edge). One read: the edges live on the follower's shard.
     */
    async edgesOf(followerId: string, max: number): Promise<Map<string, EdgeState> | undefined> {
      const shard = shards.forId(followerId);
      const rows = await shard.sql<{ followee_id: string; state: EdgeState }[]>`
        SELECT followee_id, state FROM ${shard.table('following')}
        WHERE follower_id = ${followerId} AND state <> 'none' LIMIT ${max + 1}`;
      if (rows.length > max) return undefined;
      return new Map(rows.map((row) => [String(row.followee_id), row.state]));
    },

    /**
     * Lets `decide` choose the edge's next state from the current one and writes the change with its
     * event. Returns the state after the call. Optimistic, 2 round trips and no explicit transaction (it
     * took 6 with BEGIN, a row lock and COMMIT): the edge is read, then ONE statement writes the new state
     * only if the edge's version is still the one read, and the event only if it did; a racing change in
     * between makes the write miss and the call decides again on what that change left.
     */
    async transition(
      followerId: string,
      followeeId: string,
      decide: EdgeDecider,
    ): Promise<{ state: EdgeState; changed: boolean }> {
      if (!onKnownShard(shards, followerId) || !onKnownShard(shards, followeeId)) {
        return { state: 'none', changed: false };
      }
      for (let attempt = 1; ; attempt++) {
        const changed = await onShard(shards.forId(followerId), async (s) => {
          const table = s.table('following');
          const [row] = await s.sql<{ state: EdgeState; version: string }[]>`
            SELECT state, version FROM ${table}
            WHERE follower_id = ${followerId} AND followee_id = ${followeeId}`;
          const current = row?.state ?? 'none';
          const version = Number(row?.version ?? 0);
          const decision = decide(current, version + 1);
          if (!decision || decision.state === current) return { state: current, changed: false };
          const [event] = outboxRows([decision.event]);
          if (!event) throw new Error('no outbox row for the event');
          // An absent edge is version 0: a racing first write (its insert) or any later change misses.
          const [written] = await s.sql<{ count: number }[]>`
            WITH edge AS (
              INSERT INTO ${table} AS e (follower_id, followee_id, state, version)
              VALUES (${followerId}, ${followeeId}, ${decision.state}, ${version + 1})
              ON CONFLICT (follower_id, followee_id) DO UPDATE
                SET state = excluded.state, version = excluded.version, updated_at = now()
                WHERE e.version = ${version}
              RETURNING 1
            ), sent AS (
              INSERT INTO ${s.table('outbox')} (event_id, subject, payload, traceparent)
              SELECT ${event.event_id}, ${event.subject}, ${event.payload}, ${event.traceparent} FROM edge
              RETURNING 1
            )
            SELECT count(*)::int AS count FROM edge`;
          return written?.count === 1 ? { state: decision.state, changed: true } : undefined;
        });
        if (changed) return changed;
        // Each miss means another change landed: only a write that can never match would get here.
        if (attempt === MAX_ATTEMPTS)
          throw new Error(`the edge ${followerId} -> ${followeeId} kept changing`);
      }
    },

    /**
     * Copies edges from their follower's shard onto their followee's: the sources read with one statement
     * per follower shard, the copies written with one per followee shard. Reads the source of truth
     * instead of trusting the events, and only ever moves a copy to a higher version, so duplicate and
     * reordered events converge on the same result. Returns the followees whose copy changed.
     */
    async mirror(edges: readonly Edge[]): Promise<Set<string>> {
      // Each edge once: one statement cannot upsert the same row twice.
      const known = [
        ...new Map(
          edges
            .filter((e) => onKnownShard(shards, e.followerId) && onKnownShard(shards, e.followeeId))
            .map((e) => [`${e.followerId}:${e.followeeId}`, e]),
        ).values(),
      ];
      const sources: (Edge & { state: EdgeState; version: string })[] = [];
      for (const { shard, items } of groupByShard(shards, known, (e) => e.followerId).groups) {
        const rows = await shard.sql<(Edge & { state: EdgeState; version: string })[]>`
          SELECT f.follower_id AS "followerId", f.followee_id AS "followeeId", f.state, f.version
          FROM unnest(${items.map((e) => e.followerId)}::bigint[], ${items.map((e) => e.followeeId)}::bigint[])
            AS i(follower_id, followee_id)
          JOIN ${shard.table('following')} f USING (follower_id, followee_id)`;
        sources.push(...rows);
      }
      const changed = new Set<string>();
      for (const { shard, items } of groupByShard(shards, sources, (e) => e.followeeId).groups) {
        // In (followee, follower) order, so two batches lock the rows they share in the same order.
        const sorted = [...items].sort(
          (a, b) => compareIds(a.followeeId, b.followeeId) || compareIds(a.followerId, b.followerId),
        );
        const rows = await onShard(
          shard,
          (s) => s.sql<{ followee_id: string }[]>`
            INSERT INTO ${s.table('followers')} AS f (followee_id, follower_id, state, version)
            SELECT * FROM unnest(${sorted.map((e) => e.followeeId)}::bigint[], ${sorted.map((e) => e.followerId)}::bigint[],
              ${sorted.map((e) => e.state)}::text[], ${sorted.map((e) => e.version)}::bigint[])
            ON CONFLICT (followee_id, follower_id) DO UPDATE
              SET state = excluded.state, version = excluded.version, updated_at = now()
              WHERE f.version < excluded.version
            RETURNING followee_id`,
        );
        for (const row of rows) changed.add(String(row.followee_id));
      }
      return changed;
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
