import type postgres from 'postgres';
import type { ShardGroup } from './groups.ts';
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
  return retryFenced(shard, (pool) => once(shard, pool, work), fenceWaitMs);
}

/**
 * Runs `work` once per shard group, the groups whose shards share a physical database in ONE transaction
 * on it: their statements go out pipelined on that connection and commit together, instead of a round trip
 * per statement and a commit per shard (a consumer's batch touches every shard). Each `work` gets its own
 * shard's `ShardTx`; the groups of a database start in the order given (`groupByShard` gives ascending
 * shards), so concurrent callers take row locks in one order. Results come in the order of `groups`.
 *
 * A database's transaction refused by the fence of a moving shard runs again shard by shard through
 * `inTransaction` (which waits out the move): `work` may run twice, the first run rolled back.
 */
export async function inTransactionPerDatabase<T, R>(
  groups: readonly ShardGroup<T>[],
  work: (tx: ShardTx, items: T[]) => Promise<R>,
  fenceWaitMs = 5000,
): Promise<R[]> {
  const results: R[] = new Array(groups.length);
  const byPool = new Map<postgres.Sql, number[]>();
  groups.forEach((group, i) => {
    const pool = group.shard.sql;
    byPool.set(pool, [...(byPool.get(pool) ?? []), i]);
  });
  await Promise.all(
    [...byPool].map(async ([pool, indexes]) => {
      try {
        await pool.begin(async (sql) => {
          // allSettled: every statement has finished before the transaction ends, even after a failure
          const settled = await Promise.allSettled(
            indexes.map((i) => {
              const group = groups[i] as ShardGroup<T>;
              return work(shardTx(group.shard, sql), group.items);
            }),
          );
          settled.forEach((outcome, k) => {
            if (outcome.status === 'rejected') throw outcome.reason;
            results[indexes[k] as number] = outcome.value;
          });
        });
      } catch (error) {
        if (!isShardMovingError(error)) throw error;
        for (const i of indexes) {
          const group = groups[i] as ShardGroup<T>;
          results[i] = await inTransaction(group.shard, (tx) => work(tx, group.items), fenceWaitMs);
        }
      }
    }),
  );
  return results;
}

/**
 * Runs one statement outside a transaction (a single `UPDATE`, `INSERT … ON CONFLICT`, `DELETE`) on `shard`
 * the way `inTransaction` runs a transaction: refused by the fence of a moving shard, it waits until the map
 * routes the shard to its new database (at most `fenceWaitMs`) and runs again there. `statement` gets the
 * shard bound to one pool for each attempt (`s.sql`, `s.table(…)`); the fence refuses a statement before it
 * writes anything, so running it again is safe.
 *
 * ```ts
 * onShard(shards.forId(postId), (s) => s.sql`UPDATE ${s.table('posts')} SET likes = likes + 1 WHERE id = ${postId}`)
 * ```
 */
export function onShard<T>(
  shard: ShardSql,
  statement: (s: ShardConn) => Promise<T>,
  fenceWaitMs = 5000,
): Promise<T> {
  return retryFenced(
    shard,
    async (pool) =>
      statement({
        shard: shard.shard,
        schema: shard.schema,
        database: shard.database,
        sql: pool,
        table(name: string) {
          assertTableName(name);
          return pool(`${shard.schema}.${name}`);
        },
      }),
    fenceWaitMs,
  );
}

/**
 * How long a fenced writer waits for the new route before it tries the same database again: a move given
 * up before its flip (`move --abort`) lifts the fence without any new route.
 */
const FENCE_RECHECK_MS = 250;

/** Runs `attempt` on the shard's pool of the moment; after a fence refusal, again on the new route. */
async function retryFenced<T>(
  shard: ShardSql,
  attempt: (pool: postgres.Sql) => Promise<T>,
  fenceWaitMs: number,
): Promise<T> {
  const deadline = Date.now() + fenceWaitMs;
  for (;;) {
    const pool = shard.sql;
    try {
      return await attempt(pool);
    } catch (error) {
      const left = deadline - Date.now();
      if (!shard.rerouted || !isShardMovingError(error) || left <= 0) throw error;
      await shard.rerouted(pool, Math.min(left, FENCE_RECHECK_MS));
    }
  }
}

function shardTx(shard: ShardSql, sql: postgres.TransactionSql): ShardTx {
  return {
    shard: shard.shard,
    schema: shard.schema,
    database: shard.database,
    sql,
    table(name: string) {
      assertTableName(name);
      return sql(`${shard.schema}.${name}`);
    },
  };
}

async function once<T>(shard: ShardSql, pool: postgres.Sql, work: (tx: ShardTx) => Promise<T>): Promise<T> {
  const result = await pool.begin((sql) => work(shardTx(shard, sql)));
  // postgres.js types `begin` as unwrapping arrays of promises; `work` returns a plain value.
  return result as T;
}
