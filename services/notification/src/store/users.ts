import type { Shards } from '@instantpost/shards';
import type { UserSummary } from '../domain/types.ts';

// The actors' names (from account events), each on the account's own shard.

export interface AccountChange {
  userId: string;
  username?: string | undefined;
  displayName?: string | undefined;
  /** The event's time: an older change arriving late never overwrites a newer one. */
  at: Date;
}

export async function saveAccount(shards: Shards, change: AccountChange): Promise<void> {
  const shard = shards.forId(change.userId);
  const sql = shard.sql;
  const hasName = change.displayName !== undefined;
  await sql`
    INSERT INTO ${shard.table('users')} AS u (id, username, display_name, changed_at)
    VALUES (${change.userId}, ${change.username ?? null}, ${change.displayName ?? null}, ${change.at})
    ON CONFLICT (id) DO UPDATE SET
      username = COALESCE(EXCLUDED.username, u.username),
      display_name = CASE
        WHEN ${hasName} AND (EXCLUDED.changed_at >= u.changed_at OR u.display_name IS NULL) THEN EXCLUDED.display_name
        ELSE u.display_name END,
      changed_at = GREATEST(u.changed_at, EXCLUDED.changed_at)`;
}

type UserRow = { id: string; username: string | null; display_name: string | null };

/**
 * Names of the given accounts; unknown ids get null names. One query per physical database involved
 * (a UNION ALL over the shard schemas there), so a page of items costs at most one round trip per database.
 */
export async function usersByIds(shards: Shards, ids: Iterable<string>): Promise<Map<string, UserSummary>> {
  const unique = new Set(ids);
  const byDatabase = new Map<string, Map<number, string[]>>();
  for (const id of unique) {
    const shard = shards.forId(id);
    const inDatabase = byDatabase.get(shard.database) ?? new Map<number, string[]>();
    inDatabase.set(shard.shard, [...(inDatabase.get(shard.shard) ?? []), id]);
    byDatabase.set(shard.database, inDatabase);
  }
  const found = new Map<string, UserSummary>();
  await Promise.all(
    [...byDatabase.values()].map(async (inDatabase) => {
      const selects = [...inDatabase].map(([shardNo, shardIds]) => {
        const shard = shards.forShard(shardNo);
        return shard.sql`
          SELECT id, username, display_name FROM ${shard.table('users')} WHERE id = ANY(${shardIds}::bigint[])`;
      });
      const first = [...inDatabase.keys()][0];
      if (first === undefined || selects.length === 0) return;
      const sql = shards.forShard(first).sql;
      const query = selects.reduce((all, select) => sql`${all} UNION ALL ${select}`);
      for (const r of await sql<UserRow[]>`${query}`) {
        found.set(String(r.id), { id: String(r.id), username: r.username, displayName: r.display_name });
      }
    }),
  );
  const all = new Map<string, UserSummary>();
  for (const id of unique) all.set(id, found.get(id) ?? { id, username: null, displayName: null });
  return all;
}
