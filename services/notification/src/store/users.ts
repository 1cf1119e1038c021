import { groupByShard, onShard, type ShardGroup, type Shards } from '@instantpost/shards';
import type { UserSummary } from '../domain/types.ts';

export interface AccountChange {
  userId: string;
  username?: string | undefined;
  displayName?: string | undefined;
  /** The event's time: an older change arriving late never overwrites a newer one. */
  at: Date;
}

type UserRow = { id: string; username: string | null; display_name: string | null };

/** The actors' names (from account events), each on the account's own shard. */
export function userStore(shards: Shards) {
  return {
    async saveAccount(change: AccountChange): Promise<void> {
      const hasName = change.displayName !== undefined;
      await onShard(
        shards.forId(change.userId),
        (s) => s.sql`
          INSERT INTO ${s.table('users')} AS u (id, username, display_name, changed_at)
          VALUES (${change.userId}, ${change.username ?? null}, ${change.displayName ?? null}, ${change.at})
          ON CONFLICT (id) DO UPDATE SET
            username = COALESCE(EXCLUDED.username, u.username),
            display_name = CASE
              WHEN ${hasName} AND (EXCLUDED.changed_at >= u.changed_at OR u.display_name IS NULL) THEN EXCLUDED.display_name
              ELSE u.display_name END,
            changed_at = GREATEST(u.changed_at, EXCLUDED.changed_at)`,
      );
    },

    /**
     * Names of the given accounts; unknown ids get null names. One query per physical database involved
     * (a UNION ALL over the shard schemas there), so a page of items costs at most one round trip per
     * database.
     */
    async usersByIds(ids: Iterable<string>): Promise<Map<string, UserSummary>> {
      const unique = new Set(ids);
      const { groups } = groupByShard(shards, unique);
      const byDatabase = new Map<string, ShardGroup<string>[]>();
      for (const group of groups) {
        byDatabase.set(group.shard.database, [...(byDatabase.get(group.shard.database) ?? []), group]);
      }
      const found = new Map<string, UserSummary>();
      await Promise.all(
        [...byDatabase.values()].map(async (inDatabase) => {
          const first = inDatabase[0];
          if (first === undefined) return;
          const sql = first.shard.sql;
          const query = inDatabase
            .map(
              ({ shard, items }) => sql`
                SELECT id, username, display_name FROM ${shard.table('users')} WHERE id = ANY(${items}::bigint[])`,
            )
            .reduce((all, select) => sql`${all} UNION ALL ${select}`);
          for (const r of await sql<UserRow[]>`${query}`) {
            found.set(String(r.id), { id: String(r.id), username: r.username, displayName: r.display_name });
          }
        }),
      );
      const all = new Map<string, UserSummary>();
      for (const id of unique) all.set(id, found.get(id) ?? { id, username: null, displayName: null });
      return all;
    },
  };
}

export type UserStore = ReturnType<typeof userStore>;
