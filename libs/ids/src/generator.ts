import { IdError, IdErrorCodes } from './errors.ts';
import {
  assertShard,
  EPOCH_MS,
  MAX_POSITIVE_TIME_FIELD,
  MAX_SEQUENCE,
  SEQUENCE_BITS,
  SHARD_BITS,
} from './layout.ts';

/** A source of Unix milliseconds; `Date.now` unless a test injects its own. */
export type Clock = () => number;

/** Issues ids for one logical shard in this process. */
export interface IdGenerator {
  readonly shard: number;
  /** The next id: strictly greater than every id this generator returned before. */
  next(): bigint;
}

export interface IdGeneratorOptions {
  /** Defaults to `Date.now`. */
  clock?: Clock;
}

const TIME_SHIFT = BigInt(SHARD_BITS + SEQUENCE_BITS);

class IdGeneratorImpl implements IdGenerator {
  /** Time field (ms since EPOCH_MS) of the last id; -1 before the first. */
  private last = -1;
  private sequence = 0;
  /** Clock reading when `last` was last moved, so a stepped-back clock can still pace us. */
  private tick = Number.NaN;
  /** `(last << 23) | (shard << 10)`, recomputed when `last` changes. */
  private prefix = 0n;
  private readonly shardBits: bigint;

  readonly shard: number;
  private readonly clock: Clock;

  constructor(shard: number, clock: Clock) {
    this.shard = shard;
    this.clock = clock;
    this.shardBits = BigInt(shard) << BigInt(SEQUENCE_BITS);
  }

  next(): bigint {
    for (;;) {
      const now = Math.floor(this.clock()) - EPOCH_MS;
      if (!(now >= 0)) this.outOfRange(now); // also catches NaN from a broken clock
      if (now > this.last) {
        this.moveTo(now, now);
        break;
      }
      if (this.sequence < MAX_SEQUENCE) {
        this.sequence++;
        break;
      }
      // This millisecond's 1024 ids are used up. When the clock is behind `last` (it was stepped back),
      // waiting for it to pass `last` could take as long as the step, so take the next millisecond
      // ourselves, at most once per clock tick: ids never reuse a millisecond and never run ahead of
      // real time by more than the step. Otherwise spin (< 1 ms) until the clock moves.
      if (now !== this.tick) {
        this.moveTo(this.last + 1, now);
        break;
      }
    }
    return this.prefix | BigInt(this.sequence);
  }

  private moveTo(timeField: number, tick: number): void {
    if (timeField > MAX_POSITIVE_TIME_FIELD) this.outOfRange(timeField);
    this.last = timeField;
    this.sequence = 0;
    this.tick = tick;
    this.prefix = (BigInt(timeField) << TIME_SHIFT) | this.shardBits;
  }

  private outOfRange(timeField: number): never {
    const shown = Number.isFinite(timeField)
      ? new Date(timeField + EPOCH_MS).toISOString()
      : String(timeField);
    throw new IdError(
      IdErrorCodes.ClockOutOfRange,
      `shard ${this.shard}: time ${shown} is outside the id range ` +
        `${new Date(EPOCH_MS).toISOString()}..${new Date(EPOCH_MS + MAX_POSITIVE_TIME_FIELD).toISOString()}`,
    );
  }
}

/**
 * An in-process id generator for one logical shard (tests, tools, seeding). It never returns the same
 * id twice and its ids strictly increase: after 1024 ids in one millisecond it waits for the next one,
 * and when the clock steps backwards it keeps counting from the last millisecond it used.
 *
 * Uniqueness holds per generator: two generators for the same shard (in one process or several) can
 * collide. Production ids come from `<schema>.next_id()` in Postgres.
 */
export function createIdGenerator(shard: number, options: IdGeneratorOptions = {}): IdGenerator {
  assertShard(shard);
  return new IdGeneratorImpl(shard, options.clock ?? Date.now);
}
