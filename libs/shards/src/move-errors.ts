/** Failures of the live shard map and of shard moves. */
export const ShardMoveErrorCodes = {
  /** The shard map bucket holds no map (seed it from SHARD_MAP first). */
  NoMap: 'SHARD_LIVE_MAP_MISSING',
  /** A new map would change the number of logical shards (fixed for the life of the data). */
  Shape: 'SHARD_LIVE_MAP_SHAPE',
  /** Another move of the shard (to another database) is in progress. */
  Conflict: 'SHARD_MOVE_CONFLICT',
  /** The source server cannot publish: `wal_level` is not `logical`. */
  WalLevel: 'SHARD_MOVE_WAL_LEVEL',
  /** The target's clock is behind the source's by more than the mover waits: ids could go backwards. */
  ClockBehind: 'SHARD_MOVE_CLOCK_BEHIND',
  /** A step did not finish in time, or the copy differs from the source. */
  Failed: 'SHARD_MOVE_FAILED',
  /** Migrations are running on the source database: a move starts only between them. */
  Migrating: 'SHARD_MOVE_MIGRATING',
  /** The move was given up (`move --abort`), or is past its flip and can no longer be. */
  Aborted: 'SHARD_MOVE_ABORTED',
} as const;
export type ShardMoveErrorCode = (typeof ShardMoveErrorCodes)[keyof typeof ShardMoveErrorCodes];

export class ShardMoveError extends Error {
  override readonly name = 'ShardMoveError';
  readonly code: ShardMoveErrorCode;

  constructor(code: ShardMoveErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/**
 * The SQLSTATE a fenced shard's tables raise on any write while it moves (a code of no standard class).
 * Clients wait for the map to route the shard to its new database and run the transaction again.
 */
export const SHARD_MOVING_SQLSTATE = 'IPMOV';

/** Whether `error` is a write refused by the fence of a moving shard. */
export function isShardMovingError(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === SHARD_MOVING_SQLSTATE;
}
