/**
 * Sharded Postgres: the shard map, one pool per physical database, logical shard schemas and their
 * migrations (with `next_id()` in every schema).
 */
export { bootstrapSql } from './bootstrap.ts';
export { ensureDatabases } from './databases.ts';
export { shardMapVar } from './env.ts';
export {
  MigrationError,
  type MigrationErrorCode,
  MigrationErrorCodes,
  ShardError,
  type ShardErrorCode,
  ShardErrorCodes,
  ShardMapError,
  type ShardMapErrorCode,
  ShardMapErrorCodes,
} from './errors.ts';
export { runGrouped } from './fan-out.ts';
export { groupByShard, type ShardGroup, type ShardGrouping } from './groups.ts';
export {
  type LiveShardMap,
  type LiveShardMapJson,
  liveMapFromConfig,
  liveMapFromJson,
  liveMapToJson,
  MOVE_STEPS,
  type MoveStep,
  rangesOf,
  type ShardMove,
} from './live-map.ts';
export { openShardMapStore, type ShardMapStore, shardMapBucketFor } from './map-store.ts';
export { type AppliedStep, type MigrateOptions, migrate, migrationLockKey } from './migrate.ts';
export { loadMigrations, type MigrationFile, type MigrationSource } from './migration-files.ts';
export {
  type AbortMoveOptions,
  abortMove,
  type MoveResult,
  type MoveShardOptions,
  moveShard,
} from './move.ts';
export {
  isShardMovingError,
  SHARD_MOVING_SQLSTATE,
  ShardMoveError,
  type ShardMoveErrorCode,
  ShardMoveErrorCodes,
} from './move-errors.ts';
export { schemaName } from './naming.ts';
export {
  type CreateShardsOptions,
  createShards,
  type ShardDatabase,
  type ShardSql,
  type Shards,
} from './pools.ts';
export { applyRebalance, type PlannedMove, planRebalance } from './rebalance.ts';
export { hashToShard } from './routing.ts';
export {
  DEFAULT_LOCAL_SHARD_MAP,
  databasesOf,
  formatShardMap,
  parseShardMap,
  type ShardMap,
  type ShardRange,
} from './shard-map.ts';
export {
  type AppliedMigration,
  assertMigrated,
  type ChangedMigration,
  type DatabaseStatus,
  type MigrationOptions,
  type MigrationRef,
  migrationStatus,
  type SchemaStatus,
} from './status.ts';
export {
  inTransaction,
  inTransactionPerDatabase,
  onShard,
  type ShardConn,
  type ShardTx,
} from './transaction.ts';
export { connectPostgres, type PostgresOptions, redactUrl } from './urls.ts';
