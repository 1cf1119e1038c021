import { setImmediate } from 'node:timers/promises';
import test from 'ava';
import fc from 'fast-check';
import {
  createIdGenerator,
  decode,
  EPOCH_MS,
  IdError,
  IdErrorCodes,
  LAST_POSITIVE_MS,
} from '../src/index.ts';

const T0 = Date.UTC(2027, 5, 1, 12, 0, 0);

/** A hand-driven clock that also moves 1 ms every `readsPerTick` reads, so a waiting generator gets out. */
function manualClock(start: number, readsPerTick = 64) {
  let now = start;
  let reads = 0;
  let highest = start;
  return {
    read: (): number => {
      reads++;
      if (reads % readsPerTick === 0) now++;
      highest = Math.max(highest, now);
      return now;
    },
    step(ms: number) {
      now += ms;
      highest = Math.max(highest, now);
    },
    get now() {
      return now;
    },
    get reads() {
      return reads;
    },
    get highest() {
      return highest;
    },
  };
}

test('ids from one generator strictly increase and carry its shard', (t) => {
  const gen = createIdGenerator(37);
  let previous = -1n;
  for (let i = 0; i < 50_000; i++) {
    const id = gen.next();
    t.true(id > previous);
    previous = id;
  }
  t.is(decode(previous).shard, 37);
  t.true(Math.abs(decode(previous).time - Date.now()) < 1000);
});

test('a generator that uses up 1024 ids in one millisecond waits for the next instead of colliding', (t) => {
  let now = T0;
  let readsAtT0 = 0;
  const clock = () => {
    // Frozen at T0 until the generator has asked 5 times after the 1024th id, then 1 ms later.
    if (now === T0 && ++readsAtT0 > 1024 + 5) now = T0 + 1;
    return now;
  };
  const gen = createIdGenerator(3, { clock });
  const ids = Array.from({ length: 1024 + 3 }, () => gen.next());
  const parts = ids.map(decode);
  t.is(new Set(ids).size, ids.length);
  t.deepEqual(
    parts.slice(0, 1024).map((p) => [p.time, p.sequence]),
    Array.from({ length: 1024 }, (_, i) => [T0, i]),
  );
  t.deepEqual(parts[1024], { time: T0 + 1, shard: 3, sequence: 0 });
  t.deepEqual(parts[1026], { time: T0 + 1, shard: 3, sequence: 2 });
  t.true(readsAtT0 > 1024 + 5, 'the generator kept reading the clock until it moved');
});

test('a clock stepped backwards never yields a duplicate nor reuses a millisecond', (t) => {
  const clock = manualClock(T0);
  const gen = createIdGenerator(8191, { clock: clock.read });
  const before = Array.from({ length: 3000 }, () => gen.next());
  const lastBefore = decode(before.at(-1) ?? 0n);
  clock.step(-60_000); // NTP steps the clock back a minute
  const after = Array.from({ length: 5000 }, () => gen.next());
  const all = [...before, ...after];
  t.is(new Set(all).size, all.length);
  for (let i = 1; i < all.length; i++) t.true((all[i] ?? 0n) > (all[i - 1] ?? 0n));
  // Every id after the step is later than the last one before it, and the generator did not wait a minute.
  t.true(decode(after[0] ?? 0n).time >= lastBefore.time);
  t.true(clock.now < T0 + 1000);
});

test('property: any sequence of clock steps and draws gives strictly increasing ids', (t) => {
  const command = fc.oneof(
    fc.record({ step: fc.integer({ min: -5_000, max: 5_000 }) }),
    fc.record({ draw: fc.integer({ min: 1, max: 3_000 }) }),
  );
  fc.assert(
    fc.property(
      fc.array(command, { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 0, max: 8191 }),
      (cmds, shard) => {
        const clock = manualClock(T0, 37);
        const gen = createIdGenerator(shard, { clock: clock.read });
        let previous = -1n;
        let drawn = 0;
        for (const cmd of cmds) {
          if ('step' in cmd) {
            clock.step(cmd.step);
            continue;
          }
          for (let i = 0; i < cmd.draw; i++) {
            const id = gen.next();
            const p = decode(id);
            if (!(id > previous)) return false;
            if (p.shard !== shard) return false;
            previous = id;
            drawn++;
          }
        }
        const last = decode(previous < 0n ? 0n : previous);
        // Borrowed milliseconds are paced by the clock: never further ahead than the ticks it made.
        return drawn === 0 || last.time <= clock.highest + Math.ceil(clock.reads / 37) + 1;
      },
    ),
    { numRuns: 150 },
  );
  t.pass();
});

test('200,000 ids drawn concurrently from several generators are all unique', async (t) => {
  const shards = [0, 1, 2, 17, 511, 4096, 8190, 8191];
  const perGenerator = 25_000;
  const all = new Set<bigint>();
  await Promise.all(
    shards.map(async (shard) => {
      const gen = createIdGenerator(shard);
      let previous = -1n;
      for (let i = 0; i < perGenerator; i++) {
        if (i % 500 === 0) await setImmediate(); // interleave the generators
        const id = gen.next();
        t.true(id > previous);
        t.is(decode(id).shard, shard);
        previous = id;
        all.add(id);
      }
    }),
  );
  t.is(all.size, shards.length * perGenerator);
});

test('a clock outside the id range is refused', (t) => {
  const early = createIdGenerator(1, { clock: () => EPOCH_MS - 1 });
  t.is(t.throws(() => early.next(), { instanceOf: IdError })?.code, IdErrorCodes.ClockOutOfRange);
  const late = createIdGenerator(1, { clock: () => LAST_POSITIVE_MS + 1 });
  t.regex(t.throws(() => late.next())?.message ?? '', /outside the id range/);
  const broken = createIdGenerator(1, { clock: () => Number.NaN });
  t.is(t.throws(() => broken.next(), { instanceOf: IdError })?.code, IdErrorCodes.ClockOutOfRange);
  t.is(t.throws(() => createIdGenerator(8192), { instanceOf: IdError })?.code, IdErrorCodes.InvalidField);
});
