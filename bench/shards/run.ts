/**
 * Shard move benchmark (issue 18): how long `moveShard` takes to move a logical shard holding BENCH_ROWS
 * rows (100,000) to another database while it is written, and the write pause clients see at the cutover,
 * next to raw baselines from the same run:
 *
 *   move time        start → done of `moveShard` (copy by logical replication, catch-up, fence, flip; the old
 *                    copy is retired without a grace period) vs `pg_dump | psql` of the same schema (definitions
 *                    and rows) into an empty database, the offline copy a move replaces
 *   write pause      latency of the writes of the moving shard that overlapped fence up → flip (p50, p99, max) vs
 *                    the same writers' latency outside the cutover
 *   other shards     p99 of writes of another shard during the cutover vs outside it
 *
 * BENCH_ROUNDS moves (default 3) go back and forth between two databases, under BENCH_WRITERS (4) writers on
 * the moving shard and 2 on another one, each writing one row and its outbox row per transaction
 * (`inTransaction`, which waits out the fence). A private Postgres with wal_level=logical (the machine's shared
 * server runs `replica`); the live map in a KV bucket of a test namespace on the local NATS.
 *
 *   npm run bench -- shards
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  createShards,
  inTransaction,
  migrate,
  moveShard,
  openShardMapStore,
  parseShardMap,
  rangesOf,
  type Shards,
} from '@instantpost/shards';
import { openNamespace, startPrivatePostgres, stopTestInfra } from '@instantpost/testing';
import { connect } from 'nats';
import postgres from 'postgres';
import { latencyRatio, reportFigures } from '../report.ts';
import { median, percentile } from '../stats.ts';

const env = process.env;
const ROWS = Number(env.BENCH_ROWS ?? 100_000);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const WRITERS = Number(env.BENCH_WRITERS ?? 4);
const MOVING = 1;
const OTHER = 2;

const SCHEMA = `
CREATE TABLE rows (id bigint PRIMARY KEY DEFAULT next_id(), owner bigint NOT NULL, body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX rows_owner ON rows (owner, id DESC);
CREATE TABLE outbox (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL);`;

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'pg_dump')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  return majors[0] ? join(root, majors[0], 'bin') : '';
}

/** `pg_dump -n <schema> | psql` into `target`: the offline copy of the same data. */
function dumpAndRestore(source: string, target: string, schema: string): Promise<number> {
  const bin = (name: string) => (binDir() ? join(binDir(), name) : name);
  const started = performance.now();
  const dump = spawn(bin('pg_dump'), ['--no-owner', '--no-privileges', '-n', schema, '-d', source], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const restore = spawn(
    bin('psql'),
    ['-q', '-X', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-d', target],
    {
      stdio: ['pipe', 'ignore', 'inherit'],
    },
  );
  dump.stdout.pipe(restore.stdin);
  const exit = (p: ReturnType<typeof spawn>) => new Promise<number>((r) => p.on('close', (c) => r(c ?? 1)));
  return Promise.all([exit(dump), exit(restore)]).then(([a, b]) => {
    if (a !== 0 || b !== 0) throw new Error(`pg_dump | psql failed (${a}, ${b})`);
    return performance.now() - started;
  });
}

interface Write {
  shard: number;
  start: number;
  end: number;
}

/** Writers on `shard` until stopped; every write's interval. */
function writers(shards: Shards, shard: number, count: number, out: Write[]) {
  let on = true;
  let failed = 0;
  const loops = Array.from({ length: count }, async () => {
    while (on) {
      const start = performance.now();
      try {
        await inTransaction(shards.forShard(shard), async (tx) => {
          await tx.sql`INSERT INTO ${tx.table('rows')} (owner, body) VALUES (${shard}, 'w')`;
          await tx.sql`INSERT INTO ${tx.table('outbox')} (body) VALUES ('e')`;
        });
        out.push({ shard, start, end: performance.now() });
      } catch {
        failed++;
      }
    }
  });
  return async () => {
    on = false;
    await Promise.all(loops);
    return failed;
  };
}

async function main(): Promise<void> {
  const pg = await startPrivatePostgres({ settings: { wal_level: 'logical', max_connections: '100' } });
  const ns = await openNamespace({ databases: 0 });
  const nc = await connect({ servers: ns.nats.servers });
  const dir = mkdtempSync(join(tmpdir(), 'bench-shards-'));
  try {
    const a = await pg.createDatabase('bench_a');
    const b = await pg.createDatabase('bench_b');
    const c = await pg.createDatabase('bench_c');
    const baselineDb = await pg.createDatabase('bench_dump');
    writeFileSync(join(dir, '0001_rows.sql'), SCHEMA);
    const store = await openShardMapStore(nc.jetstream(), { prefix: ns.nats.prefix });
    const seeded = await store.seed(parseShardMap(`0-1=${a};2-3=${b}`));
    const setup = createShards({ service: 'bench', map: rangesOf(seeded), poolMax: 2 });
    await migrate({ shards: setup, sources: [{ name: 'bench', dir }] });
    await setup.close();
    const shards = createShards({
      service: 'bench',
      map: rangesOf(seeded),
      version: seeded.version,
      poolMax: 8,
    });
    const watcher = await store.watch((m) => void shards.apply(rangesOf(m), m.version));

    process.stdout.write(`filling shard ${MOVING} with ${ROWS.toLocaleString('en-US')} rows… `);
    const fill = postgres(a, { max: 1, onnotice: () => {} });
    await fill.unsafe(
      `INSERT INTO bench_0001.rows (owner, body) SELECT g % 1000, repeat('x', 100) FROM generate_series(1, ${ROWS}) g`,
    );
    await fill.unsafe('VACUUM ANALYZE bench_0001.rows');
    await fill.end();
    process.stdout.write('done\n');

    const dumps: number[] = [];
    const moves: number[] = [];
    const writes: Write[] = [];
    const windows: { from: number; to: number }[] = [];
    let failed = 0;
    const targets = [c, a];
    for (let round = 0; round < ROUNDS; round++) {
      // The raw baseline on the same data, just before the move.
      const source = round % 2 === 0 ? a : c;
      const clean = postgres(baselineDb, { max: 1, onnotice: () => {} });
      await clean.unsafe('DROP SCHEMA IF EXISTS bench_0001 CASCADE');
      await clean.end();
      dumps.push(await dumpAndRestore(source, baselineDb, 'bench_0001'));

      const stopMoving = writers(shards, MOVING, WRITERS, writes);
      const stopOther = writers(shards, OTHER, 2, writes);
      await new Promise((r) => setTimeout(r, 1000));
      let from = 0;
      let to = 0;
      const started = performance.now();
      await moveShard({
        store,
        shard: MOVING,
        target: targets[round % 2] as string,
        retireGraceMs: 0,
        log: (line) => {
          if (line.includes('fence up')) from = performance.now();
          if (line.includes('step retiring')) to = performance.now();
          process.stdout.write(`${line}\n`);
        },
      });
      moves.push(performance.now() - started);
      windows.push({ from, to });
      await new Promise((r) => setTimeout(r, 1000));
      failed += (await stopMoving()) + (await stopOther());
    }
    watcher.stop();
    await shards.close();

    const inCutover = (w: Write) => windows.some((x) => w.end >= x.from && w.start <= x.to);
    const lat = (keep: (w: Write) => boolean) => writes.filter(keep).map((w) => w.end - w.start);
    const cut = lat((w) => w.shard === MOVING && inCutover(w));
    const normal = lat((w) => w.shard === MOVING && !inCutover(w));
    const otherCut = lat((w) => w.shard === OTHER && inCutover(w));
    const otherNormal = lat((w) => w.shard === OTHER && !inCutover(w));
    const fenceToFlip = windows.map((x) => x.to - x.from);
    const move = median(moves);
    const dump = median(dumps);
    process.stdout.write(
      `\n${writes.length} writes, ${failed} failed; fence up → flip ${fenceToFlip.map((x) => x.toFixed(0)).join(', ')} ms; ` +
        `moves ${moves.map((x) => x.toFixed(0)).join(', ')} ms; pg_dump|psql ${dumps.map((x) => x.toFixed(0)).join(', ')} ms\n`,
    );
    if (failed > 0) throw new Error(`${failed} writes failed during the moves`);
    reportFigures(
      'shards',
      'npm run bench -- shards',
      [
        {
          figure: `move of a shard holding ${ROWS.toLocaleString('en-US')} rows, under writes (median of ${ROUNDS})`,
          value: move,
          unit: 'ms',
          baseline: 'pg_dump to psql of the same schema, offline',
          baselineValue: dump,
          ratio: latencyRatio(move, dump),
        },
        {
          figure: 'write pause of the moving shard at the cutover, p50',
          value: percentile(cut, 50),
          unit: 'ms',
          baseline: 'its writes outside the cutover, p50',
          baselineValue: percentile(normal, 50),
          ratio: latencyRatio(percentile(cut, 50), percentile(normal, 50)),
        },
        {
          figure: 'write pause of the moving shard at the cutover, p99',
          value: percentile(cut, 99),
          unit: 'ms',
          baseline: 'its writes outside the cutover, p99',
          baselineValue: percentile(normal, 99),
          ratio: latencyRatio(percentile(cut, 99), percentile(normal, 99)),
        },
        {
          figure: 'writes of another shard during the cutover, p99',
          value: percentile(otherCut, 99),
          unit: 'ms',
          baseline: 'outside the cutover, p99',
          baselineValue: percentile(otherNormal, 99),
          ratio: latencyRatio(percentile(otherCut, 99), percentile(otherNormal, 99)),
        },
      ],
      `Fence up → flip ${median(fenceToFlip).toFixed(0)} ms (median); longest write of the moving shard at the cutover ` +
        `${Math.max(0, ...cut).toFixed(0)} ms; ${cut.length} writes crossed a cutover, none failed (${writes.length} in all). ` +
        `${WRITERS} writers on the moving shard, 2 on another; private Postgres (wal_level=logical).`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await nc.drain();
    await ns.close();
    await pg.stop();
    await stopTestInfra();
  }
}

await main();
