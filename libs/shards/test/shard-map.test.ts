import { loadConfig } from '@instantpost/config';
import test from 'ava';
import fc from 'fast-check';
import {
  DEFAULT_LOCAL_SHARD_MAP,
  databasesOf,
  formatShardMap,
  parseShardMap,
  ShardMapError,
  type ShardMapErrorCode,
  ShardMapErrorCodes,
  shardMapVar,
} from '../src/index.ts';

const A = 'postgres://127.0.0.1:5432/db_a';
const B = 'postgres://127.0.0.1:5432/db_b';

test('parses ranges of logical shards onto databases', (t) => {
  const map = parseShardMap(`0-7=${A};8-15=${B}`);
  t.is(map.shardCount, 16);
  t.deepEqual(map.ranges, [
    { from: 0, to: 7, url: A },
    { from: 8, to: 15, url: B },
  ]);
  t.deepEqual(databasesOf(map), [
    { url: A, shards: [0, 1, 2, 3, 4, 5, 6, 7] },
    { url: B, shards: [8, 9, 10, 11, 12, 13, 14, 15] },
  ]);
});

test('accepts single shards, any entry order, spaces, a trailing ";" and a database used by several ranges', (t) => {
  const map = parseShardMap(` 4-7 = ${A} ; 0-3=${B};8=${A};\n`);
  t.is(map.shardCount, 9);
  t.deepEqual(
    map.ranges.map((r) => [r.from, r.to, r.url]),
    [
      [0, 3, B],
      [4, 7, A],
      [8, 8, A],
    ],
  );
  t.deepEqual(databasesOf(map), [
    { url: B, shards: [0, 1, 2, 3] },
    { url: A, shards: [4, 5, 6, 7, 8] },
  ]);
  t.is(formatShardMap(map), `0-3=${B};4-7=${A};8=${A}`);
});

test('property: any partition of 0..n-1 into ranges parses back to the right database per shard', (t) => {
  const partition = fc
    .array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 12 })
    .filter((sizes) => sizes.reduce((a, b) => a + b, 0) <= 8192);
  fc.assert(
    fc.property(partition, fc.boolean(), (sizes, shuffle) => {
      let from = 0;
      const entries = sizes.map((size, i) => {
        const entry = { from, to: from + size - 1, url: `postgres://db${i % 3}.local:5432/shard_db_${i}` };
        from += size;
        return entry;
      });
      const listed = shuffle ? [...entries].reverse() : entries;
      const map = parseShardMap(listed.map((e) => `${e.from}-${e.to}=${e.url}`).join(';'));
      t.is(map.shardCount, from);
      const urlOf = new Map(databasesOf(map).flatMap((d) => d.shards.map((s) => [s, d.url] as const)));
      for (const e of entries) {
        t.is(urlOf.get(e.from), e.url);
        t.is(urlOf.get(e.to), e.url);
      }
      t.is(urlOf.size, from);
    }),
    { numRuns: 200 },
  );
});

test('malformed maps are refused with a message that says what is wrong', (t) => {
  const cases: Array<[string, ShardMapErrorCode, RegExp]> = [
    ['', ShardMapErrorCodes.Empty, /shard map is empty: expected <from>-<to>=<postgres url>/],
    [' ; ', ShardMapErrorCodes.Empty, /empty/],
    [A, ShardMapErrorCodes.Syntax, /entry 1 ".*db_a" must look like <from>-<to>=<postgres url>/],
    [`0-7 ${A}`, ShardMapErrorCodes.Syntax, /entry 1 .* must look like/],
    [`0-x=${A}`, ShardMapErrorCodes.Syntax, /must look like/],
    [`-1-7=${A}`, ShardMapErrorCodes.Syntax, /must look like/],
    [`7-0=${A}`, ShardMapErrorCodes.Syntax, /entry 1 .*: range 7-0 ends before it starts/],
    [`0-8192=${A}`, ShardMapErrorCodes.ShardOutOfRange, /shard 8192 is outside 0-8191/],
    [`0-7=${A};8-99999999999999999999=${B}`, ShardMapErrorCodes.ShardOutOfRange, /entry 2 .*outside 0-8191/],
    ['0-7=mysql://127.0.0.1/db', ShardMapErrorCodes.BadUrl, /must be a postgres:\/\/ or postgresql:\/\/ URL/],
    ['0-7=db_a', ShardMapErrorCodes.BadUrl, /"db_a" is not a URL/],
    ['0-7=postgres://127.0.0.1:5432/', ShardMapErrorCodes.BadUrl, /must name a host and a database/],
    [
      `0-7=${A};6-15=${B}`,
      ShardMapErrorCodes.Overlap,
      /shards 6-7 mapped twice: by entry 1 \(shards 0-7\) and entry 2/,
    ],
    [`0-7=${A};3=${B}`, ShardMapErrorCodes.Overlap, /shard 3 mapped twice/],
    [`0-7=${A};0-7=${A}`, ShardMapErrorCodes.Overlap, /shards 0-7 mapped twice/],
    [
      `0-7=${A};10-15=${B}`,
      ShardMapErrorCodes.Gap,
      /shards 8-9 not mapped: every shard from 0 to the highest one \(15\)/,
    ],
    [`1-15=${A}`, ShardMapErrorCodes.Gap, /shard 0 not mapped/],
  ];
  for (const [text, code, message] of cases) {
    const error = t.throws(() => parseShardMap(text), { instanceOf: ShardMapError }, text);
    t.is(error?.code, code, text);
    t.is(error?.name, 'ShardMapError');
    t.regex(error?.message ?? '', message, text);
  }
});

test('passwords never appear in error messages', (t) => {
  const error = t.throws(() => parseShardMap('0-7=postgres://app:s3cret@127.0.0.1:5432/db;9=postgres://x/y'));
  t.regex(error?.message ?? '', /shard 8 not mapped/);
  const syntax = t.throws(() => parseShardMap('0-7 postgres://app:s3cret@127.0.0.1:5432/db'));
  t.notRegex(syntax?.message ?? '', /s3cret/);
  t.regex(syntax?.message ?? '', /app:\*\*\*@/);
  const url = t.throws(() => parseShardMap('0-7=mysql://app:s3cret@127.0.0.1/db'));
  t.notRegex(url?.message ?? '', /s3cret/);
});

test('SHARD_MAP through @instantpost/config: errors name the variable, unset means the local default', (t) => {
  const spec = { shardMap: shardMapVar() };
  t.is(loadConfig(spec, {}).shardMap.shardCount, 16);
  t.deepEqual(loadConfig(spec, {}).shardMap, parseShardMap(DEFAULT_LOCAL_SHARD_MAP));
  t.is(loadConfig(spec, { SHARD_MAP: `0-3=${A}` }).shardMap.shardCount, 4);
  const error = t.throws(() => loadConfig(spec, { SHARD_MAP: `0-7=${A};9-15=${B}` }));
  t.regex(error?.message ?? '', /SHARD_MAP: shard 8 not mapped/);
  t.regex(
    t.throws(() => loadConfig({ m: shardMapVar({ required: true }) }, {}))?.message ?? '',
    /SHARD_MAP: is required/,
  );
});
