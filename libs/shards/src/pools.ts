import { type IdLike, shardOf } from '@instantpost/ids';
import postgres from 'postgres';
import { ShardError, ShardErrorCodes } from './errors.ts';
import { runGrouped } from './fan-out.ts';
import { assertServiceName, assertTableName, schemaName } from './naming.ts';
import { hashToShard, randomShard } from './routing.ts';
import { databasesOf, type ShardMap } from './shard-map.ts';
import { redactUrl } from './urls.ts';

/** One logical shard of a service: its schema and the pool of the physical database holding it. */
export interface ShardSql {
  readonly shard: number;
  /** `<service>_<shard, 4 digits>`, e.g. `metadata_0007`. */
  readonly schema: string;
  /** The pool of the physical database (shared by every shard on that database). */
  readonly sql: postgres.Sql;
  /** The database URL, password hidden (for logs). */
  readonly database: string;
  /** A table of this schema as a quoted identifier: sql`select * from ${s.table('posts')}`. */
  table(name: string): postgres.Helper<string, []>;
}

/** One physical database: its URL, the logical shards it holds and its pool. */
export interface ShardDatabase {
  readonly url: string;
  readonly shards: readonly number[];
  readonly sql: postgres.Sql;
}

/** A service's view of its sharded Postgres: one pool per physical database. */
export interface Shards {
  readonly service: string;
  /** 0..n-1, every logical shard of the map. */
  readonly logicalShards: readonly number[];
  readonly databases: readonly ShardDatabase[];
  /** The per-database pool size (`poolMax`). */
  readonly poolMax: number;
  /** The shard's schema and pool. Throws `ShardError` (`SHARD_UNKNOWN`) for a shard not in the map. */
  forShard(shard: number): ShardSql;
  /** Where the data of an id lives: `forShard(shardOf(id))`. Throws for a malformed id. */
  forId(id: IdLike): ShardSql;
  /** A shard for a new account, uniformly at random (even across replicas and restarts). */
  shardForNewUser(): number;
  /** A stable shard for a string key (MD5-based, see `hashToShard`); the same in every process. */
  shardForKey(key: string): number;
  /**
   * Runs `fn` on every logical shard; results in `logicalShards` order. At most `concurrency` calls
   * (default and ceiling: `poolMax`) are in flight per physical database.
   */
  fanOut<T>(fn: (s: ShardSql) => Promise<T>, opts?: { concurrency?: number }): Promise<T[]>;
  /** `SELECT 1` on every physical database (for /readyz); throws `SHARD_DATABASE_UNREACHABLE`. */
  ping(): Promise<void>;
  /** Ends every pool (waits up to 5 s for queries in flight). Safe to call twice. */
  close(): Promise<void>;
}

export interface CreateShardsOptions {
  /** Owner of the schemas, e.g. `metadata`, `media-processing`. */
  service: string;
  map: ShardMap;
  /** Connections per physical database. Default 10. */
  poolMax?: number;
  /** Seconds before an idle connection closes (0: never). Default 30. */
  idleTimeout?: number;
  /**
   * Named prepared statements (postgres.js `prepare`). Default true; false behind PgBouncer in
   * transaction pooling mode, where the next transaction may run on another server connection.
   */
  prepare?: boolean;
  /** Seconds to wait for a connection. Default 10. */
  connectTimeout?: number;
  /**
   * Server-side deadlines set on every connection (0: none, Postgres' default): a statement running
   * longer is cancelled, a transaction idle longer is ended and its locks released — so a hung client or
   * a runaway query frees its connection instead of holding it forever.
   */
  statementTimeoutMs?: number;
  idleInTransactionTimeoutMs?: number;
}

/**
 * Opens one postgres.js pool per physical database of `map` (connections are made lazily, on first
 * query). `bigint` columns come back as decimal strings, postgres.js' default and the ids' JSON form:
 * rows can be sent as they are, and `parseId`/`toId` turn a string into a `bigint` where code needs
 * one. Parameters may be `bigint` or string.
 */
export function createShards(opts: CreateShardsOptions): Shards {
  assertServiceName(opts.service);
  const poolMax = opts.poolMax ?? 10;
  if (!Number.isSafeInteger(poolMax) || poolMax < 1)
    throw new RangeError(`poolMax must be >= 1, got ${poolMax}`);
  const databases: ShardDatabase[] = databasesOf(opts.map).map(({ url, shards }) => ({
    url,
    shards,
    sql: postgres(url, {
      max: poolMax,
      idle_timeout: opts.idleTimeout ?? 30,
      connect_timeout: opts.connectTimeout ?? 10,
      prepare: opts.prepare ?? true,
      connection: {
        application_name: opts.service,
        statement_timeout: opts.statementTimeoutMs ?? 0,
        idle_in_transaction_session_timeout: opts.idleInTransactionTimeoutMs ?? 0,
      },
      onnotice: () => {},
    }),
  }));
  const byShard: ShardSql[] = [];
  for (const db of databases) {
    const database = redactUrl(db.url);
    for (const shard of db.shards) {
      const schema = schemaName(opts.service, shard);
      byShard[shard] = {
        shard,
        schema,
        sql: db.sql,
        database,
        table(name: string) {
          assertTableName(name);
          // postgres.js quotes each dot-separated part: "metadata_0007"."posts".
          return db.sql(`${schema}.${name}`);
        },
      };
    }
  }
  const logicalShards = Array.from({ length: opts.map.shardCount }, (_, i) => i);
  let closing: Promise<void> | undefined;

  const forShard = (shard: number): ShardSql => {
    const s = Number.isInteger(shard) ? byShard[shard] : undefined;
    if (!s) {
      throw new ShardError(
        ShardErrorCodes.UnknownShard,
        `shard ${shard} is not in the shard map (shards 0-${opts.map.shardCount - 1})`,
      );
    }
    return s;
  };

  return {
    service: opts.service,
    logicalShards,
    databases,
    poolMax,
    forShard,
    forId(id) {
      const shard = shardOf(id);
      if (byShard[shard] === undefined) {
        throw new ShardError(
          ShardErrorCodes.UnknownShard,
          `id ${id} belongs to shard ${shard}, which is not in the shard map (shards 0-${opts.map.shardCount - 1})`,
        );
      }
      return forShard(shard);
    },
    shardForNewUser: () => randomShard(opts.map.shardCount),
    shardForKey: (key) => hashToShard(key, opts.map.shardCount),
    async fanOut<T>(fn: (s: ShardSql) => Promise<T>, fanOpts: { concurrency?: number } = {}): Promise<T[]> {
      const limit = Math.max(1, Math.min(fanOpts.concurrency ?? poolMax, poolMax));
      const results = await runGrouped(
        databases.map((db) => db.shards),
        limit,
        (shard) => fn(forShard(shard)),
      );
      return logicalShards.map((shard) => results.get(shard) as T);
    },
    async ping() {
      await Promise.all(
        databases.map(async (db) => {
          try {
            await db.sql`select 1`;
          } catch (cause) {
            throw new ShardError(
              ShardErrorCodes.Unreachable,
              `database ${redactUrl(db.url)} did not answer: ${cause instanceof Error ? cause.message : String(cause)}`,
              { cause },
            );
          }
        }),
      );
    },
    close() {
      closing ??= Promise.all(databases.map((db) => db.sql.end({ timeout: 5 }))).then(() => undefined);
      return closing;
    },
  };
}
