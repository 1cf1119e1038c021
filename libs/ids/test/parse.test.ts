import test from 'ava';
import fc from 'fast-check';
import {
  EPOCH_MS,
  encode,
  formatId,
  IdError,
  type IdErrorCode,
  IdErrorCodes,
  isId,
  MAX_ID,
  parseId,
  shardOf,
  timeOf,
  toId,
} from '../src/index.ts';

test('parseId reads back every id in 0..2^63-1 from its decimal string', (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: MAX_ID }), (id) => {
      t.is(parseId(formatId(id)), id);
      t.true(isId(id.toString()));
    }),
    { numRuns: 2000 },
  );
});

test('parseId refuses anything that is not a canonical decimal id, with a code and a message', (t) => {
  const cases: Array<[unknown, IdErrorCode, RegExp]> = [
    ['', IdErrorCodes.InvalidFormat, /id must be a decimal string, got ""/],
    [' 12', IdErrorCodes.InvalidFormat, /decimal string/],
    ['12 ', IdErrorCodes.InvalidFormat, /decimal string/],
    ['012', IdErrorCodes.InvalidFormat, /decimal string/],
    ['-12', IdErrorCodes.InvalidFormat, /decimal string/],
    ['+12', IdErrorCodes.InvalidFormat, /decimal string/],
    ['1.0', IdErrorCodes.InvalidFormat, /decimal string/],
    ['1e3', IdErrorCodes.InvalidFormat, /decimal string/],
    ['0x1f', IdErrorCodes.InvalidFormat, /decimal string/],
    ['abc', IdErrorCodes.InvalidFormat, /decimal string/],
    ['１２', IdErrorCodes.InvalidFormat, /decimal string/],
    ['12345678901234567890', IdErrorCodes.OutOfRange, /larger than the largest id/],
    ['1'.repeat(5000), IdErrorCodes.OutOfRange, /larger than the largest id/],
    ['9223372036854775808', IdErrorCodes.OutOfRange, /larger than the largest id 9223372036854775807/],
    ['9999999999999999999', IdErrorCodes.OutOfRange, /larger than the largest id/],
    [123, IdErrorCodes.InvalidFormat, /the number 123 \(ids travel as strings/],
    [123n, IdErrorCodes.InvalidFormat, /type bigint/],
    [null, IdErrorCodes.InvalidFormat, /got null/],
    [undefined, IdErrorCodes.InvalidFormat, /type undefined/],
  ];
  for (const [input, code, message] of cases) {
    const error = t.throws(() => parseId(input), { instanceOf: IdError }, String(input));
    t.is(error?.code, code, String(input));
    t.is(error?.name, 'IdError');
    t.is(error?.statusCode, 400);
    t.regex(error?.message ?? '', message);
    t.false(isId(input));
  }
});

test('parseId names the value in its message', (t) => {
  t.regex(t.throws(() => parseId('x', 'postId'))?.message ?? '', /^postId must be a decimal string/);
});

test('toId checks bigints and parses strings', (t) => {
  t.is(toId(42n), 42n);
  t.is(toId('42'), 42n);
  t.is(t.throws<IdError>(() => toId(-1n))?.code, IdErrorCodes.OutOfRange);
  t.is(t.throws<IdError>(() => toId(MAX_ID + 1n))?.code, IdErrorCodes.OutOfRange);
});

test('shardOf and timeOf read an id given as bigint or string', (t) => {
  const id = encode({ time: EPOCH_MS + 86_400_000, shard: 4242, sequence: 17 });
  t.is(shardOf(id), 4242);
  t.is(shardOf(id.toString()), 4242);
  t.is(timeOf(id).toISOString(), '2026-01-02T00:00:00.000Z');
  t.is(timeOf(id.toString()).getTime(), EPOCH_MS + 86_400_000);
  t.is(t.throws<IdError>(() => shardOf('not-an-id'))?.code, IdErrorCodes.InvalidFormat);
});
