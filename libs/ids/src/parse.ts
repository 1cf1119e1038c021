import { IdError, IdErrorCodes } from './errors.ts';
import { decode, MAX_ID } from './layout.ts';

/** Canonical decimal: no sign, no leading zeros, no spaces. */
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

/** An id in code (`bigint`) or on the wire (decimal string). */
export type IdLike = bigint | string;

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number') return `the number ${value} (ids travel as strings: numbers lose digits)`;
  if (value === null) return 'null';
  return `a value of type ${typeof value}`;
}

/**
 * Parses the JSON form of an id: a canonical decimal string in 0..2^63-1 (every id a generator can
 * mint). Anything else throws an `IdError` with code `ID_INVALID_FORMAT` or `ID_OUT_OF_RANGE`.
 * `what` names the value in the message, e.g. `parseId(body.postId, 'postId')`.
 */
export function parseId(value: unknown, what = 'id'): bigint {
  if (typeof value !== 'string' || !DECIMAL.test(value)) {
    throw new IdError(IdErrorCodes.InvalidFormat, `${what} must be a decimal string, got ${describe(value)}`);
  }
  // 19 digits hold every id; checking the length first keeps BigInt() away from huge inputs.
  const id = value.length <= 19 ? BigInt(value) : undefined;
  if (id === undefined || id > MAX_ID) {
    throw new IdError(
      IdErrorCodes.OutOfRange,
      `${what} ${describe(value)} is larger than the largest id ${MAX_ID}`,
    );
  }
  return id;
}

/** Accepts an id as `bigint` (checked to be in 0..2^63-1) or as its decimal string. */
export function toId(value: IdLike, what = 'id'): bigint {
  if (typeof value === 'string') return parseId(value, what);
  if (value < 0n || value > MAX_ID) {
    throw new IdError(IdErrorCodes.OutOfRange, `${what} ${value} is outside 0..${MAX_ID}`);
  }
  return value;
}

/** True when `value` is a string `parseId` accepts. */
export function isId(value: unknown): value is string {
  try {
    parseId(value);
    return true;
  } catch {
    return false;
  }
}

/** The JSON form of an id (decimal string). */
export function formatId(id: bigint): string {
  return toId(id).toString();
}

/** The logical shard an id was created on: where its data lives. */
export function shardOf(id: IdLike): number {
  return decode(toId(id)).shard;
}

/** When an id was created (millisecond precision). */
export function timeOf(id: IdLike): Date {
  return new Date(decode(toId(id)).time);
}
