/** Why a shard map text was refused. */
export const ShardMapErrorCodes = {
  Empty: 'SHARD_MAP_EMPTY',
  Syntax: 'SHARD_MAP_SYNTAX',
  ShardOutOfRange: 'SHARD_MAP_SHARD_OUT_OF_RANGE',
  BadUrl: 'SHARD_MAP_BAD_URL',
  Overlap: 'SHARD_MAP_OVERLAP',
  Gap: 'SHARD_MAP_GAP',
} as const;
export type ShardMapErrorCode = (typeof ShardMapErrorCodes)[keyof typeof ShardMapErrorCodes];

/** A shard map that cannot be used; the message says which entry is wrong and how. */
export class ShardMapError extends Error {
  override readonly name = 'ShardMapError';
  readonly code: ShardMapErrorCode;

  constructor(code: ShardMapErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Failures of the sharded connection layer. */
export const ShardErrorCodes = {
  /** A shard number (or an id's shard) that the shard map does not contain. */
  UnknownShard: 'SHARD_UNKNOWN',
  /** A service or table name that cannot become a schema or table identifier. */
  BadName: 'SHARD_BAD_NAME',
  /** A physical database did not answer `SELECT 1`. */
  Unreachable: 'SHARD_DATABASE_UNREACHABLE',
  /** `ensureDatabases` was asked to create databases on another server than the admin URL's. */
  OtherServer: 'SHARD_DATABASE_OTHER_SERVER',
} as const;
export type ShardErrorCode = (typeof ShardErrorCodes)[keyof typeof ShardErrorCodes];

export class ShardError extends Error {
  override readonly name = 'ShardError';
  readonly code: ShardErrorCode;

  constructor(code: ShardErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Failures of the migration runner. */
export const MigrationErrorCodes = {
  /** A migrations directory is missing, or a file name is not `NNNN_name.sql`, or a version repeats. */
  BadSource: 'MIGRATION_BAD_SOURCE',
  /** An applied migration's file changed since it ran. */
  ChecksumMismatch: 'MIGRATION_CHECKSUM_MISMATCH',
  /** Schemas lack migrations the code expects (`assertMigrated`). */
  Behind: 'MIGRATION_BEHIND',
  /** A migration file failed; its transaction was rolled back. */
  Failed: 'MIGRATION_FAILED',
  /** A schema with pending files belongs to a logical shard that is moving (`npm run shards -- move`). */
  ShardMoving: 'MIGRATION_SHARD_MOVING',
} as const;
export type MigrationErrorCode = (typeof MigrationErrorCodes)[keyof typeof MigrationErrorCodes];

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  readonly code: MigrationErrorCode;
  /** The schemas concerned (behind, changed or failed), when there are any. */
  readonly schemas: readonly string[];

  constructor(
    code: MigrationErrorCode,
    message: string,
    schemas: readonly string[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
    this.schemas = schemas;
  }
}
