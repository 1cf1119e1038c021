import type postgres from 'postgres';
import { assertSchemaName } from './names.ts';
import type { OutboxShard } from './outbox.ts';

/**
 * Records that `consumer` handled `eventId`, in the handler's own transaction (`tx` from `sql.begin`)
 * on the shard it writes to. Returns `false` when it was already recorded: the handler then skips its
 * writes, so a redelivered, republished or replayed event changes nothing. Because the row commits or
 * rolls back with the handler's writes, a crash before commit leaves no trace and the retry runs again.
 */
export async function withInbox(
  tx: postgres.TransactionSql,
  schema: string,
  consumer: string,
  eventId: string,
): Promise<boolean> {
  assertSchemaName(schema);
  const rows = await tx`
    INSERT INTO ${tx(`${schema}.inbox`)} (consumer, event_id) VALUES (${consumer}, ${eventId})
    ON CONFLICT DO NOTHING RETURNING 1 AS inserted`;
  return rows.length === 1;
}

/**
 * `withInbox` for a batch: records every id of `eventIds` for `consumer` in one statement, in the caller's
 * transaction, and returns the ids that were not recorded before. Apply the effects of those only: the
 * others were handled already (a redelivery, a replay, or the same event twice in the batch).
 */
export async function withInboxBatch(
  tx: postgres.TransactionSql,
  schema: string,
  consumer: string,
  eventIds: readonly string[],
): Promise<Set<string>> {
  assertSchemaName(schema);
  const unique = [...new Set(eventIds)];
  if (unique.length === 0) return new Set();
  const rows = await tx<{ event_id: string }[]>`
    INSERT INTO ${tx(`${schema}.inbox`)} (consumer, event_id)
    SELECT ${consumer}, unnest(${unique}::text[])
    ON CONFLICT DO NOTHING RETURNING event_id`;
  return new Set(rows.map((r) => r.event_id));
}

/**
 * The SQLSTATE a moving shard's write fence raises (libs/shards `SHARD_MOVING_SQLSTATE`; the bus does not
 * depend on the shards library, so the code is repeated here).
 */
export const SHARD_MOVING_SQLSTATE = 'IPMOV';

/**
 * Runs `work` in a transaction on `shard` once per (consumer, event): returns `false` without calling
 * `work` when the event was already handled. Shorthand for `sql.begin` + `withInbox`.
 *
 * A transaction refused by the fence of a moving shard waits, when `shard` can tell (`rerouted`, as a
 * live `Shards.forShard` view does), until the shard is routed to its new database (at most `fenceWaitMs`)
 * and runs again there, like libs/shards' `inTransaction`: the handler is not failed into a redelivery.
 */
export async function handleOnce(
  shard: OutboxShard,
  consumer: string,
  eventId: string,
  work: (tx: postgres.TransactionSql) => Promise<void>,
  fenceWaitMs = 5000,
): Promise<boolean> {
  const deadline = Date.now() + fenceWaitMs;
  for (;;) {
    const pool = shard.sql;
    try {
      return await pool.begin(async (tx) => {
        if (!(await withInbox(tx, shard.schema, consumer, eventId))) return false;
        await work(tx);
        return true;
      });
    } catch (error) {
      const left = deadline - Date.now();
      const fenced = (error as { code?: unknown } | null)?.code === SHARD_MOVING_SQLSTATE;
      if (!shard.rerouted || !fenced || left <= 0) throw error;
      // Re-tried on the same database every 250 ms too: a move given up (`move --abort`) lifts the fence
      // without a new route.
      await shard.rerouted(pool, Math.min(left, 250));
    }
  }
}

/**
 * Deletes inbox rows older than `olderThanMs` (at most `limit` per call; call until it returns less).
 * Keep them longer than the streams' max age, so a replay from the stream is still deduplicated.
 */
export async function pruneInbox(shard: OutboxShard, olderThanMs: number, limit = 5000): Promise<number> {
  assertSchemaName(shard.schema);
  const sql = shard.sql;
  const table = sql(`${shard.schema}.inbox`);
  const result = await sql`
    DELETE FROM ${table} WHERE (consumer, event_id) IN (
      SELECT consumer, event_id FROM ${table}
      WHERE processed_at < now() - ${olderThanMs} * interval '1 millisecond'
      LIMIT ${limit})`;
  return result.count;
}
