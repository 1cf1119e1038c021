/**
 * Id generation throughput, each figure beside a raw baseline measured in the same run:
 *
 *   node --import tsx bench/ids/run.ts [--seconds 3] [--json out.json] [--postgres-url <admin url>]
 *
 * - in-process `createIdGenerator` (one shard) vs a bare BigInt counter;
 * - `next_id()` vs `nextval('plain_seq')` on a plain sequence, in bulk (1000 per query) and one per
 *   query, from 1 connection and from 16 (16 workers on a pool of 16: never more queries in flight
 *   than connections, see PITFALLS on porsager/postgres#747).
 *
 * Measured and baseline alternate over short rounds after a warm-up; the table shows medians and the
 * median of the per-round ratios. Runs in a throwaway database it creates and drops on the server of
 * --postgres-url (default postgres://postgres@127.0.0.1:5432/postgres). The last stdout line is JSON.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createIdGenerator } from '@instantpost/ids';
import { bootstrapSql } from '@instantpost/shards';
import postgres from 'postgres';
import { reportFigures } from '../report.ts';
import { median } from '../stats.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    json: { type: 'string' },
    'postgres-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
  },
});
const secondsPerFigure = Number(values.seconds);
const ROUNDS = 6; // plus one warm-up round
const roundMs = (secondsPerFigure * 1000) / ROUNDS / 2;
const adminUrl = values['postgres-url'];

interface Figure {
  figure: string;
  idsPerSecond: number;
  baseline: string;
  baselinePerSecond: number;
  /** Median over rounds of (figure / baseline). */
  ratio: number;
}

type Measure = (ms: number) => Promise<number>; // returns ids made in ~ms

async function compare(figure: string, measure: Measure, baseline: string, base: Measure): Promise<Figure> {
  await measure(roundMs / 2);
  await base(roundMs / 2);
  const a: number[] = [];
  const b: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which side goes first so drift hits both alike.
    let x: number;
    let y: number;
    if (r % 2 === 0) {
      x = await rate(measure);
      y = await rate(base);
    } else {
      y = await rate(base);
      x = await rate(measure);
    }
    a.push(x);
    b.push(y);
    ratios.push(x / y);
  }
  return { figure, idsPerSecond: median(a), baseline, baselinePerSecond: median(b), ratio: median(ratios) };
}

async function rate(measure: Measure): Promise<number> {
  const started = performance.now();
  const n = await measure(roundMs);
  return n / ((performance.now() - started) / 1000);
}

/**
 * With the wall clock the generator is capped by the layout (1024 ids per ms); with `fastClock` the
 * clock moves 1 ms every 1024 reads, which shows the generator's own CPU cost.
 */
function inProcess(fastClock = false): Measure {
  let reads = 0;
  const start = Date.now();
  const gen = createIdGenerator(1, fastClock ? { clock: () => start + Math.floor(reads++ / 1024) } : {});
  return async (ms) => {
    const deadline = performance.now() + ms;
    let n = 0;
    let sink = 0n;
    while (performance.now() < deadline) {
      for (let i = 0; i < 1000; i++) sink ^= gen.next();
      n += 1000;
    }
    if (sink === -1n) console.log(sink);
    return n;
  };
}

function bigintCounter(): Measure {
  let counter = 0n;
  return async (ms) => {
    const deadline = performance.now() + ms;
    let n = 0;
    let sink = 0n;
    while (performance.now() < deadline) {
      for (let i = 0; i < 1000; i++) {
        counter += 1n;
        sink ^= counter;
      }
      n += 1000;
    }
    if (sink === -1n) console.log(sink);
    return n;
  };
}

/** `workers` loops, each running `query` (which makes `perQuery` ids) until the deadline. */
function queries(
  sql: postgres.Sql,
  workers: number,
  perQuery: number,
  query: (sql: postgres.Sql) => Promise<unknown>,
): Measure {
  return async (ms) => {
    const deadline = performance.now() + ms;
    const counts = await Promise.all(
      Array.from({ length: workers }, async () => {
        let n = 0;
        while (performance.now() < deadline) {
          await query(sql);
          n += perQuery;
        }
        return n;
      }),
    );
    return counts.reduce((x, y) => x + y, 0);
  };
}

async function main(): Promise<void> {
  const database = `bench_ids_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE "${database}"`);
  const url = Object.assign(new URL(adminUrl), { pathname: `/${database}` }).toString();
  const one = postgres(url, { max: 1, onnotice: () => {} });
  const sixteen = postgres(url, { max: 16, onnotice: () => {} });
  const figures: Figure[] = [];
  try {
    await one.unsafe(bootstrapSql('bench_0001', 1));
    await one.unsafe('CREATE SEQUENCE plain_seq');
    const BULK = 1000;
    const bulkNextId = (sql: postgres.Sql) =>
      sql`select bench_0001.next_id() from generate_series(1, ${BULK})`;
    const bulkPlain = (sql: postgres.Sql) =>
      sql`select nextval('plain_seq') from generate_series(1, ${BULK})`;
    const oneNextId = (sql: postgres.Sql) => sql`select bench_0001.next_id()`;
    const onePlain = (sql: postgres.Sql) => sql`select nextval('plain_seq')`;

    figures.push(
      await compare('in-process generator, 1 shard', inProcess(), 'BigInt counter', bigintCounter()),
    );
    figures.push(
      await compare(
        'in-process generator, clock not limiting',
        inProcess(true),
        'BigInt counter',
        bigintCounter(),
      ),
    );
    for (const [label, sql, workers] of [
      ['1 connection', one, 1],
      ['16 connections', sixteen, 16],
    ] as const) {
      figures.push(
        await compare(
          `next_id() x${BULK}/query, ${label}`,
          queries(sql, workers, BULK, bulkNextId),
          `nextval(plain_seq) x${BULK}/query`,
          queries(sql, workers, BULK, bulkPlain),
        ),
      );
      figures.push(
        await compare(
          `next_id() 1/query, ${label}`,
          queries(sql, workers, 1, oneNextId),
          'nextval(plain_seq) 1/query',
          queries(sql, workers, 1, onePlain),
        ),
      );
    }
    // A sanity check that what was measured made unique ids.
    const [check] = await one<{ n: number; d: number }[]>`
      select count(*)::int as n, count(distinct id)::int as d
      from (select bench_0001.next_id() as id from generate_series(1, 100000)) x`;
    if (check?.n !== check?.d) throw new Error(`next_id() repeated ids: ${check?.n} vs ${check?.d} distinct`);
  } finally {
    await one.end();
    await sixteen.end();
    await admin.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  }

  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const rows = [
    ['figure', 'ids/s', 'baseline', 'baseline ids/s', 'ratio'],
    ...figures.map((f) => [
      f.figure,
      fmt(f.idsPerSecond),
      f.baseline,
      fmt(f.baselinePerSecond),
      f.ratio.toFixed(3),
    ]),
  ];
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  console.log(`ids benchmark: medians of ${ROUNDS} alternating rounds of ${roundMs.toFixed(0)} ms per side`);
  for (const r of rows) {
    console.log(
      r
        .map((cell, c) => (c === 0 || c === 2 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
        .join('  '),
    );
  }
  const result = { date: new Date().toISOString(), node: process.version, roundMs, rounds: ROUNDS, figures };
  if (values.json) await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result));
  reportFigures(
    'ids',
    'npm run bench -- ids',
    figures.map((f) => ({
      figure: f.figure,
      value: f.idsPerSecond,
      unit: 'ids/s',
      baseline: f.baseline,
      baselineValue: f.baselinePerSecond,
      ratio: f.ratio,
    })),
  );
}

await main();
