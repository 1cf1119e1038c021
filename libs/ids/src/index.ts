/**
 * Instagram's 64-bit ids: 41 bits of milliseconds since 2026-01-01T00:00:00Z, 13 bits of logical
 * shard, 10 bits of sequence. `bigint` in code, decimal strings on the wire.
 */
export { IdError, type IdErrorCode, IdErrorCodes } from './errors.ts';
export { type Clock, createIdGenerator, type IdGenerator, type IdGeneratorOptions } from './generator.ts';
export {
  assertShard,
  decode,
  EPOCH_MS,
  encode,
  firstIdAt,
  type IdParts,
  LAST_POSITIVE_MS,
  MAX_ID,
  MAX_POSITIVE_TIME_FIELD,
  MAX_SEQUENCE,
  MAX_SHARD,
  MAX_TIME_FIELD,
  SEQUENCE_BITS,
  SHARD_BITS,
  TIME_BITS,
} from './layout.ts';
export { formatId, type IdLike, isId, parseId, shardOf, timeOf, toId } from './parse.ts';
export { type NextIdTarget, nextIdFunctionSql } from './sql.ts';
