import { type IdLike, shardOf } from '@instantpost/ids';
import type postgres from 'postgres';
import { ShardError, ShardErrorCodes } from './errors.ts';
import { runGrouped } from './fan-out.ts';
import { ShardMoveError, ShardMoveErrorCodes } from './move-errors.ts';
import { assertServiceName, assertTableName, schemaName } from './naming.ts';
import { hashToShard, randomShard } from './routing.ts';
import { databasesOf, type ShardMap } from './shard-map.ts';
import { connectPostgres, redactUrl } from './urls.ts';

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
  /**
   * After a write on `pool` was refused by a move's fence: resolves true once the live map routes this
   * shard to another pool, false after `timeoutMs` (see `Shards.rerouted`).
   */
  rerouted?(pool: postgres.Sql, timeoutMs?: number): Promise<boolean>;
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
  /** The databases of the map applied now (changes when `apply` routes shards elsewhere). */
  readonly databases: readonly ShardDatabase[];
  /** The version of the map applied now (1 for a map from configuration). */
  readonly version: number;
  /** The map applied now. */
  readonly map: ShardMap;
  /** The per-database pool size (`poolMax`). */
  readonly poolMax: number;
  /**
   * The shard's schema and pool. The object is the same for the life of `Shards`: its `sql` is the pool
   * of the database the map routes the shard to at the time it is read. Throws `ShardError`
   * (`SHARD_UNKNOWN`) for a shard not in the map.
   */
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
  /**
   * Routes shards by a newer map (an older or equal `version` is ignored): pools of new databases open,
   * pools no database of the map uses any more are drained (queries in flight finish, up to 5 s) and
   * closed. The number of logical shards never changes (`SHARD_LIVE_MAP_SHAPE` otherwise).
   */
  apply(map: ShardMap, version: number): Promise<void>;
  /** Calls `listener` after every `apply` that changed the version; returns the unsubscribe. */
  onChange(listener: (version: number) => void): () => void;
  /**
   * After a write to `shard` on `pool` was refused by a move's fence: waits until the map routes the
   * shard to another pool (true) or `timeoutMs` passes (false).
   */
  rerouted(shard: number, pool: postgres.Sql, timeoutMs?: number): Promise<boolean>;
  /** `SELECT 1` on every physical database (for /readyz); throws `SHARD_DATABASE_UNREACHABLE`. */
  ping(): Promise<void>;
  /** Ends every pool (waits up to 5 s for queries in flight). Safe to call twice. */
  close(): Promise<void>;
}

export interface CreateShardsOptions {
  /** Owner of the schemas, e.g. `metadata`, `media-processing`. */
  service: string;
  map: ShardMap;
  /** The version of `map` (a live map's); `apply` takes newer ones only. Default 1. */
  version?: number;
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
 * one. Parameters may be `bigint` or string. `apply` later routes shards by a newer map (a live map).
 */
export function createShards(opts: CreateShardsOptions): Shards {
  assertServiceName(opts.service);
  const poolMax = opts.poolMax ?? 10;
  if (!Number.isSafeInteger(poolMax) || poolMax < 1)
    throw new RangeError(`poolMax must be >= 1, got ${poolMax}`);
  const openPool = (url: string) =>
    connectPostgres(url, {
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
    });
  const shardCount = opts.map.shardCount;
  const logicalShards = Array.from({ length: shardCount }, (_, i) => i);
  const listeners = new Set<(version: number) => void>();
  const draining = new Set<Promise<void>>();

  // The routing, replaced as a whole by `apply`, so a reader never sees half of a change.
  interface Routing {
    readonly version: number;
    readonly map: ShardMap;
    readonly databases: readonly ShardDatabase[];
    /** Per shard: its database. */
    readonly byShard: readonly ShardDatabase[];
  }
  const route = (map: ShardMap, version: number, reuse: Map<string, postgres.Sql>): Routing => {
    const databases = databasesOf(map).map(({ url, shards }) => ({
      url,
      shards,
      sql: reuse.get(url) ?? openPool(url),
    }));
    const byShard: ShardDatabase[] = [];
    for (const db of databases) for (const shard of db.shards) byShard[shard] = db;
    return { version, map, databases, byShard };
  };
  let routing = route(opts.map, opts.version ?? 1, new Map());

  const dbOf = (shard: number) => routing.byShard[shard] as ShardDatabase;
  const views: ShardSql[] = logicalShards.map((shard) => {
    const schema = schemaName(opts.service, shard);
    return {
      shard,
      schema,
      get sql() {
        return dbOf(shard).sql;
      },
      get database() {
        return redactUrl(dbOf(shard).url);
      },
      table(name: string) {
        assertTableName(name);
        // postgres.js quotes each dot-separated part: "metadata_0007"."posts".
        return dbOf(shard).sql(`${schema}.${name}`);
      },
      rerouted: (pool: postgres.Sql, timeoutMs?: number) => rerouted(shard, pool, timeoutMs),
    };
  });
  let closing: Promise<void> | undefined;

  const forShard = (shard: number): ShardSql => {
    const s = Number.isInteger(shard) ? views[shard] : undefined;
    if (!s) {
      throw new ShardError(
        ShardErrorCodes.UnknownShard,
        `shard ${shard} is not in the shard map (shards 0-${shardCount - 1})`,
      );
    }
    return s;
  };

  const apply = async (map: ShardMap, version: number): Promise<void> => {
    if (closing || version <= routing.version) return;
    if (map.shardCount !== shardCount) {
      throw new ShardMoveError(
        ShardMoveErrorCodes.Shape,
        `map version ${version} has ${map.shardCount} logical shards, this process routes ${shardCount}: ` +
          'the number of logical shards is fixed for the life of the data',
      );
    }
    const old = routing;
    routing = route(map, version, new Map(old.databases.map((db) => [db.url, db.sql])));
    const kept = new Set(routing.databases.map((db) => db.sql));
    for (const db of old.databases) {
      if (kept.has(db.sql)) continue;
      const ended = db.sql.end({ timeout: 5 }).then(() => {
        draining.delete(ended);
      });
      draining.add(ended);
    }
    for (const listener of listeners) listener(version);
  };

  async function rerouted(shard: number, pool: postgres.Sql, timeoutMs = 5000): Promise<boolean> {
    if (forShard(shard).sql !== pool) return true;
    return new Promise<boolean>((resolve) => {
      const done = (moved: boolean) => {
        clearTimeout(timer);
        listeners.delete(check);
        resolve(moved);
      };
      const check = () => {
        if (forShard(shard).sql !== pool) done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      listeners.add(check);
    });
  }

  return {
    service: opts.service,
    logicalShards,
    get databases() {
      return routing.databases;
    },
    get version() {
      return routing.version;
    },
    get map() {
      return routing.map;
    },
    poolMax,
    forShard,
    forId(id) {
      const shard = shardOf(id);
      if (shard >= shardCount) {
        throw new ShardError(
          ShardErrorCodes.UnknownShard,
          `id ${id} belongs to shard ${shard}, which is not in the shard map (shards 0-${shardCount - 1})`,
        );
      }
      return forShard(shard);
    },
    shardForNewUser: () => randomShard(shardCount),
    shardForKey: (key) => hashToShard(key, shardCount),
    async fanOut<T>(fn: (s: ShardSql) => Promise<T>, fanOpts: { concurrency?: number } = {}): Promise<T[]> {
      const limit = Math.max(1, Math.min(fanOpts.concurrency ?? poolMax, poolMax));
      const results = await runGrouped(
        routing.databases.map((db) => db.shards),
        limit,
        (shard) => fn(forShard(shard)),
      );
      return logicalShards.map((shard) => results.get(shard) as T);
    },
    apply,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    rerouted,
    async ping() {
      await Promise.all(
        routing.databases.map(async (db) => {
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
      closing ??= Promise.all([
        ...routing.databases.map((db) => db.sql.end({ timeout: 5 })),
        ...draining,
      ]).then(() => undefined);
      return closing;
    },
  };
}
