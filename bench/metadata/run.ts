/**
 * Redis memory of metadata's post → author map, Instagram's hash-bucketing trick against its raw
 * baseline, measured in the same run:
 *
 *   node --import tsx bench/metadata/run.ts [--entries 1000000] [--redis-url redis://127.0.0.1:6379]
 *
 * - baseline: one plain string key per post (`SET pa:<postId> <authorId>`);
 * - metadata's map: the same pairs as fields of `POST_AUTHOR_BUCKETS` hashes (default 4096, ~244 fields
 *   each, under Redis' default `hash-max-listpack-entries` 512, so every bucket is a compact listpack);
 * - for contrast, Instagram's ~1000 fields per bucket on a server left at the default 512: the buckets
 *   fall back to hash tables and most of the saving is lost (PITFALLS.md, Redis).
 *
 * Ids are real 64-bit ids (time, 16 shards, sequence). Memory is the sum of `MEMORY USAGE` of the keys
 * written (exact for this data, immune to other clients of a shared server); `used_memory` deltas are
 * printed beside it. Lookups: pipelined GET vs HGET of random posts, alternated over rounds.
 * Everything is written under a throwaway prefix and deleted at the end. The last stdout line is JSON.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createIdGenerator } from '@instantpost/ids';
import { postAuthorMap } from '@instantpost/metadata/harness';
import { Redis } from 'ioredis';
import { type BenchFigure, latencyRatio, rateRatio, reportFigures } from '../report.ts';
import { median } from '../stats.ts';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '1000000' },
    buckets: { type: 'string', default: '4096' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
  },
});
const ENTRIES = Number(values.entries);
const BUCKETS = Number(values.buckets);
const BATCH = 5000;
const prefix = `bench:metadata:${randomBytes(3).toString('hex')}:`;
const redis = new Redis(values['redis-url'], { keyPrefix: prefix });
const raw = new Redis(values['redis-url']); // unprefixed: MEMORY USAGE / OBJECT take the full key

// Realistic ids: posts spread over 16 shards, created over about an hour; authors likewise.
const posts: string[] = [];
const authors: string[] = [];
{
  const gens = Array.from({ length: 16 }, (_, shard) => {
    let t = Date.now() - 3_600_000;
    return createIdGenerator(shard, { clock: () => (t += 3) });
  });
  for (let i = 0; i < ENTRIES; i++) {
    posts.push((gens[i % 16] as ReturnType<typeof createIdGenerator>).next().toString());
    authors.push((gens[(i * 7) % 16] as ReturnType<typeof createIdGenerator>).next().toString());
  }
}

const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await raw.info('memory'))?.[1] ?? 0);

async function write(each: (p: ReturnType<Redis['pipeline']>, i: number) => void): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < ENTRIES; i += BATCH) {
    const p = redis.pipeline();
    for (let j = i; j < Math.min(i + BATCH, ENTRIES); j++) each(p, j);
    await p.exec();
  }
  return performance.now() - started;
}

/** Sum of MEMORY USAGE over `keys` (full names), pipelined. */
async function memoryOf(keys: readonly string[]): Promise<number> {
  let total = 0;
  for (let i = 0; i < keys.length; i += BATCH) {
    const p = raw.pipeline();
    for (const key of keys.slice(i, i + BATCH)) p.memory('USAGE', key, 'SAMPLES', '0');
    for (const [, n] of (await p.exec()) ?? []) total += Number(n ?? 0);
  }
  return total;
}

async function drop(keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += BATCH) await raw.unlink(...keys.slice(i, i + BATCH));
}

interface Layout {
  name: string;
  keys: string[];
  bytes: number;
  usedDelta: number;
  writeMs: number;
  encodings: Record<string, number>;
}

async function measure(name: string, keyOf: (i: number) => string, hashed: boolean): Promise<Layout> {
  const before = await usedMemory();
  const writeMs = await write((p, i) => {
    if (hashed) p.hset(keyOf(i), posts[i] as string, authors[i] as string);
    else p.set(keyOf(i), authors[i] as string);
  });
  const usedDelta = (await usedMemory()) - before;
  const keys = [...new Set(Array.from({ length: ENTRIES }, (_, i) => `${prefix}${keyOf(i)}`))];
  const bytes = await memoryOf(keys);
  const encodings: Record<string, number> = {};
  for (const key of keys.slice(0, 200)) {
    const e = String(await raw.object('ENCODING', key));
    encodings[e] = (encodings[e] ?? 0) + 1;
  }
  return { name, keys, bytes, usedDelta, writeMs, encodings };
}

/** Pipelined random lookups per second. */
async function lookups(
  get: (p: ReturnType<Redis['pipeline']>, i: number) => void,
  ms: number,
): Promise<number> {
  let done = 0;
  const started = performance.now();
  while (performance.now() - started < ms) {
    const p = redis.pipeline();
    for (let j = 0; j < 1000; j++) get(p, Math.floor(Math.random() * ENTRIES));
    await p.exec();
    done += 1000;
  }
  return done / ((performance.now() - started) / 1000);
}

try {
  const listpackMax = await raw.config('GET', 'hash-max-listpack-entries');
  console.log(
    `redis hash-max-listpack-entries = ${JSON.stringify(listpackMax)}; ${ENTRIES.toLocaleString()} entries`,
  );

  const plain = await measure('plain keys', (i) => `pa:${posts[i]}`, false);
  const map = postAuthorMap(redis, BUCKETS);
  const bucketed = await measure(`${BUCKETS} buckets`, (i) => map.keyOf(posts[i] as string), true);

  const getRates: number[] = [];
  const hgetRates: number[] = [];
  for (let r = 0; r < 6; r++) {
    const plainFirst = r % 2 === 0;
    const g = () => lookups((p, i) => p.get(`pa:${posts[i]}`), 500);
    const h = () => lookups((p, i) => p.hget(map.keyOf(posts[i] as string), posts[i] as string), 500);
    if (plainFirst) {
      getRates.push(await g());
      hgetRates.push(await h());
    } else {
      hgetRates.push(await h());
      getRates.push(await g());
    }
  }
  await drop(plain.keys);

  const bigBuckets = Math.max(1, Math.round(ENTRIES / 1000));
  const insta = postAuthorMap(redis, bigBuckets);
  await drop(bucketed.keys);
  const oversized = await measure(
    `${bigBuckets} buckets of ~1000`,
    (i) => insta.keyOf(posts[i] as string),
    true,
  );
  await drop(oversized.keys);

  const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
  for (const l of [plain, bucketed, oversized]) {
    console.log(
      `${l.name.padEnd(24)} ${mb(l.bytes).padStart(7)} MB (MEMORY USAGE)  used_memory +${mb(l.usedDelta)} MB  ` +
        `${(l.bytes / ENTRIES).toFixed(1)} B/entry  keys ${l.keys.length}  write ${(l.writeMs / 1000).toFixed(1)} s  ` +
        `encodings ${JSON.stringify(l.encodings)}`,
    );
  }
  console.log(`lookups/s: GET ${Math.round(median(getRates))}, HGET ${Math.round(median(hgetRates))}`);

  const figures: BenchFigure[] = [
    {
      figure: `post→author map, ${ENTRIES.toLocaleString('en-US')} entries, ${BUCKETS} listpack buckets`,
      value: bucketed.bytes / 1024 / 1024,
      unit: 'MB',
      baseline: 'one string key per post',
      baselineValue: plain.bytes / 1024 / 1024,
      ratio: latencyRatio(bucketed.bytes, plain.bytes),
    },
    {
      figure: `same, ${bigBuckets} buckets of ~1000 (over hash-max-listpack-entries 512)`,
      value: oversized.bytes / 1024 / 1024,
      unit: 'MB',
      baseline: 'one string key per post',
      baselineValue: plain.bytes / 1024 / 1024,
      ratio: latencyRatio(oversized.bytes, plain.bytes),
    },
    {
      figure: 'random lookups, pipelined HGET on the bucketed map',
      value: median(hgetRates),
      unit: 'lookups/s',
      baseline: 'pipelined GET on plain keys',
      baselineValue: median(getRates),
      ratio: rateRatio(median(hgetRates), median(getRates)),
    },
  ];
  const report = reportFigures('metadata', 'node --import tsx bench/metadata/run.ts', figures);
  console.log(JSON.stringify(report));
} finally {
  redis.disconnect();
  raw.disconnect();
}
