import type postgres from 'postgres';
import { isShardMovingError } from './move-errors.ts';
import { assertTableName } from './naming.ts';
import type { ShardSql } from './pools.ts';

/** One logical shard inside a transaction: the shape of `ShardSql`, with `sql` the transaction. */
export interface ShardTx {
  readonly shard: number;
  readonly schema: string;
  readonly sql: postgres.TransactionSql;
  readonly database: string;
  table(name: string): postgres.Helper<string, []>;
}

/** A shard's schema with what a store's statements run on: the pool, or a transaction on it. */
export type ShardConn = ShardSql | ShardTx;

/**
 * Runs `work` in one transaction on `shard` (committed when it resolves, rolled back when it throws).
 * Stores use it for writes of several statements, e.g. a row and its outbox event.
 *
 * A transaction refused by the fence of a moving shard (`SHARD_MOVING_SQLSTATE`) waits until the map
 * routes the shard to its new database (at most `fenceWaitMs`, default 5000) and runs again there:
 * writers of a moving shard wait, they do not fail. `work` may therefore run twice; the first run's
 * transaction was rolled back.
 */
export async function inTransaction<T>(
  shard: ShardSql,
  work: (tx: ShardTx) => Promise<T>,
  fenceWaitMs = 5000,
): Promise<T> {
  const deadline = Date.now() + fenceWaitMs;
  for (;;) {
    const pool = shard.sql;
    try {
      return await once(shard, pool, work);
    } catch (error) {
      const left = deadline - Date.now();
      if (!shard.rerouted || !isShardMovingError(error) || left <= 0) throw error;
      if (!(await shard.rerouted(pool, left))) throw error;
    }
  }
}

async function once<T>(shard: ShardSql, pool: postgres.Sql, work: (tx: ShardTx) => Promise<T>): Promise<T> {
  const result = await pool.begin((sql) =>
    work({
      shard: shard.shard,
      schema: shard.schema,
      database: shard.database,
      sql,
      table(name: string) {
        assertTableName(name);
        return sql(`${shard.schema}.${name}`);
      },
    }),
  );
  // postgres.js types `begin` as unwrapping arrays of promises; `work` returns a plain value.
  return result as T;
}
