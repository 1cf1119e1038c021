import { IdError, IdErrorCodes } from './errors.ts';

/**
 * Instagram's 64-bit id, read from the most significant bit:
 *
 *   | 41 bits: ms since EPOCH_MS | 13 bits: logical shard | 10 bits: sequence |
 *
 * The value is a Postgres `bigint` (signed). The top time bit is the sign bit, so ids stay positive
 * for 2^40 ms (~34.8 years) after the epoch: until 2060-11-03T19:53:47.775Z with EPOCH_MS below.
 */
export const TIME_BITS = 41;
export const SHARD_BITS = 13;
export const SEQUENCE_BITS = 10;

/** 2026-01-01T00:00:00.000Z. Changing it changes every id: never do. */
export const EPOCH_MS = Date.UTC(2026, 0, 1);
export const MAX_SHARD = 2 ** SHARD_BITS - 1; // 8191
export const MAX_SEQUENCE = 2 ** SEQUENCE_BITS - 1; // 1023
/** Largest time field (ms since the epoch) the layout can hold; past 2^40 - 1 ids are negative. */
export const MAX_TIME_FIELD = 2 ** TIME_BITS - 1;
/** Largest time field that still gives a positive id. Generators refuse to go past it. */
export const MAX_POSITIVE_TIME_FIELD = 2 ** (TIME_BITS - 1) - 1;
/** The last millisecond (Unix ms) with positive ids: 2060-11-03T19:53:47.775Z. */
export const LAST_POSITIVE_MS = EPOCH_MS + MAX_POSITIVE_TIME_FIELD;
/** Largest id value (2^63 - 1, Postgres' bigint maximum). */
export const MAX_ID = 2n ** 63n - 1n;

const SHARD_SHIFT = BigInt(SEQUENCE_BITS);
const TIME_SHIFT = BigInt(SHARD_BITS + SEQUENCE_BITS);
const SHARD_MASK = BigInt(MAX_SHARD);
const SEQUENCE_MASK = BigInt(MAX_SEQUENCE);

/** The three fields of an id. */
export interface IdParts {
  /** Creation time in Unix milliseconds (like `Date.now()`), from EPOCH_MS to EPOCH_MS + 2^41 - 1. */
  readonly time: number;
  /** Logical shard, 0..8191. */
  readonly shard: number;
  /** Per-shard, per-millisecond sequence, 0..1023. */
  readonly sequence: number;
}

function checkField(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new IdError(
      IdErrorCodes.InvalidField,
      `${name} must be an integer in ${min}..${max}, got ${value}`,
    );
  }
}

/** Throws unless `shard` is a valid logical shard number (0..8191). */
export function assertShard(shard: number): void {
  checkField('shard', shard, 0, MAX_SHARD);
}

/**
 * Builds the id for the given fields, as the signed 64-bit value Postgres stores (so it agrees bit for
 * bit with `next_id()`). Times past LAST_POSITIVE_MS give negative ids, exactly as in Postgres.
 */
export function encode(parts: IdParts): bigint {
  checkField('time', parts.time, EPOCH_MS, EPOCH_MS + MAX_TIME_FIELD);
  checkField('shard', parts.shard, 0, MAX_SHARD);
  checkField('sequence', parts.sequence, 0, MAX_SEQUENCE);
  const raw =
    (BigInt(parts.time - EPOCH_MS) << TIME_SHIFT) |
    (BigInt(parts.shard) << SHARD_SHIFT) |
    BigInt(parts.sequence);
  return BigInt.asIntN(64, raw);
}

/** Splits an id (any signed 64-bit value) into its fields. The inverse of `encode`. */
export function decode(id: bigint): IdParts {
  if (id < -(2n ** 63n) || id > MAX_ID) {
    throw new IdError(IdErrorCodes.OutOfRange, `id ${id} does not fit in 64 bits`);
  }
  const bits = BigInt.asUintN(64, id);
  return {
    time: Number(bits >> TIME_SHIFT) + EPOCH_MS,
    shard: Number((bits >> SHARD_SHIFT) & SHARD_MASK),
    sequence: Number(bits & SEQUENCE_MASK),
  };
}

/**
 * The smallest id created at `time` (Unix ms or a Date) on any shard: `id >= firstIdAt(t)` selects
 * ids created at or after `t`.
 */
export function firstIdAt(time: number | Date): bigint {
  const ms = typeof time === 'number' ? time : time.getTime();
  return encode({ time: ms, shard: 0, sequence: 0 });
}
