import test from 'ava';
import fc from 'fast-check';
import {
  decode,
  EPOCH_MS,
  encode,
  firstIdAt,
  IdError,
  IdErrorCodes,
  LAST_POSITIVE_MS,
  MAX_SEQUENCE,
  MAX_SHARD,
  MAX_TIME_FIELD,
} from '../src/index.ts';

const time = fc.integer({ min: EPOCH_MS, max: EPOCH_MS + MAX_TIME_FIELD });
const positiveTime = fc.integer({ min: EPOCH_MS, max: LAST_POSITIVE_MS });
const shard = fc.integer({ min: 0, max: MAX_SHARD });
const sequence = fc.integer({ min: 0, max: MAX_SEQUENCE });
const parts = fc.record({ time, shard, sequence });

test('encode/decode round-trip over the whole field ranges', (t) => {
  fc.assert(
    fc.property(parts, (p) => {
      t.deepEqual(decode(encode(p)), p);
    }),
    { numRuns: 5000 },
  );
  const extremes = [
    { time: EPOCH_MS, shard: 0, sequence: 0 },
    { time: EPOCH_MS + MAX_TIME_FIELD, shard: MAX_SHARD, sequence: MAX_SEQUENCE },
    { time: LAST_POSITIVE_MS, shard: MAX_SHARD, sequence: MAX_SEQUENCE },
    { time: LAST_POSITIVE_MS + 1, shard: 0, sequence: 0 },
  ];
  for (const p of extremes) t.deepEqual(decode(encode(p)), p);
});

test('decode round-trips every 64-bit value', (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (id) => {
      t.is(encode(decode(id)), id);
    }),
  );
});

test('the layout puts time, shard and sequence in 41/13/10 bits', (t) => {
  // 2026-01-01T00:00:01.000Z, shard 7, sequence 5 — worked out by hand.
  const id = encode({ time: EPOCH_MS + 1000, shard: 7, sequence: 5 });
  t.is(id, (1000n << 23n) | (7n << 10n) | 5n);
  t.is(id, 8_388_615_173n); // 1000 * 2^23 + 7 * 1024 + 5
});

test('ids sort by creation time, then shard, then sequence', (t) => {
  fc.assert(
    fc.property(
      fc.record({ time: positiveTime, shard, sequence }),
      fc.record({ time: positiveTime, shard, sequence }),
      (a, b) => {
        const byFields =
          a.time !== b.time
            ? a.time - b.time
            : a.shard !== b.shard
              ? a.shard - b.shard
              : a.sequence - b.sequence;
        const byId = encode(a) < encode(b) ? -1 : encode(a) > encode(b) ? 1 : 0;
        t.is(byId, Math.sign(byFields));
      },
    ),
    { numRuns: 5000 },
  );
});

test('ids stay positive until 2060-11-03 and are negative (like Postgres bigint) after', (t) => {
  t.true(LAST_POSITIVE_MS >= Date.UTC(2060, 0, 1));
  t.is(new Date(LAST_POSITIVE_MS).toISOString(), '2060-11-03T19:53:47.775Z');
  t.true(encode({ time: LAST_POSITIVE_MS, shard: MAX_SHARD, sequence: MAX_SEQUENCE }) === 2n ** 63n - 1n);
  t.true(encode({ time: LAST_POSITIVE_MS + 1, shard: 0, sequence: 0 }) === -(2n ** 63n));
});

test('encode refuses fields outside their bit widths', (t) => {
  const bad = [
    { time: EPOCH_MS - 1, shard: 0, sequence: 0 },
    { time: EPOCH_MS + MAX_TIME_FIELD + 1, shard: 0, sequence: 0 },
    { time: EPOCH_MS, shard: MAX_SHARD + 1, sequence: 0 },
    { time: EPOCH_MS, shard: -1, sequence: 0 },
    { time: EPOCH_MS, shard: 0, sequence: MAX_SEQUENCE + 1 },
    { time: EPOCH_MS + 0.5, shard: 0, sequence: 0 },
    { time: Number.NaN, shard: 0, sequence: 0 },
  ];
  for (const p of bad) {
    const error = t.throws(() => encode(p), { instanceOf: IdError });
    t.is(error?.code, IdErrorCodes.InvalidField);
  }
  t.regex(
    t.throws(() => encode({ time: EPOCH_MS, shard: 9000, sequence: 0 }))?.message ?? '',
    /shard must be an integer in 0\.\.8191, got 9000/,
  );
});

test('decode refuses values wider than 64 bits', (t) => {
  const error = t.throws(() => decode(2n ** 64n), { instanceOf: IdError });
  t.is(error?.code, IdErrorCodes.OutOfRange);
});

test('firstIdAt bounds the ids created at or after a time', (t) => {
  fc.assert(
    fc.property(fc.record({ time: positiveTime, shard, sequence }), (p) => {
      t.true(encode(p) >= firstIdAt(p.time));
      if (p.time < LAST_POSITIVE_MS) t.true(encode(p) < firstIdAt(p.time + 1));
    }),
  );
  t.is(firstIdAt(new Date(EPOCH_MS + 1)), 1n << 23n);
});
