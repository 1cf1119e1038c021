import type postgres from 'postgres';
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
 */
export async function inTransaction<T>(shard: ShardSql, work: (tx: ShardTx) => Promise<T>): Promise<T> {
  const result = await shard.sql.begin((sql) =>
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
