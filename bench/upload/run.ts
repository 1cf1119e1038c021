/**
 * Upload benchmark: photos through `POST /v1/media` (multipart → sniff, SHA-256, size check → S3
 * `originals/<id>` → row + outbox on the owner's shard → 202) next to two raw baselines of the same bytes
 * to the same S3: one PutObject, and lib-storage's Upload (the S3 calls the service makes: one PutObject
 * under 5 MiB, a multipart upload above), measured in the same run over rotating rounds (PITFALLS: this machine drifts, ratios
 * hold better than absolutes). Reports MB/s, uploads/s and p50/p99 latency per path, the median ratio, and
 * the upload process' resident memory (it streams; it never holds a whole photo).
 *
 * The upload service runs as its own process (`services/upload/src/main.ts`), pinned to the last core when
 * `taskset` exists; this process (load generator, S3 emulator, raw client) to the first. Everything lives
 * in a fresh test namespace (databases, NATS prefix, bucket) that is removed at the end.
 *
 *   npx tsx bench/upload/run.ts
 *
 * Env: BENCH_MB (5, photo size in MB), BENCH_CONCURRENCY (4), BENCH_ROUNDS (3), BENCH_SECONDS (4 per path
 * per round), BENCH_PROFILE_DIR (write a CPU profile of the upload process there), TEST_* variables of
 * @instantpost/testing to use other infrastructure.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { setupService } from '@instantpost/chassis';
import { makeTestKeys, testEnvironment } from '@instantpost/chassis/testing';
import { encode, formatId } from '@instantpost/ids';
import { freePort, openNamespace, s3ClientFor, stopTestInfra } from '@instantpost/testing';
import { migrations } from '@instantpost/upload/harness';
import { latencyRatio, reportFigures } from '../report.ts';
import { median, percentile } from '../stats.ts';

const env = process.env;
const MB = Number(env.BENCH_MB ?? 5);
const CONCURRENCY = Number(env.BENCH_CONCURRENCY ?? 4);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(env.BENCH_SECONDS ?? 4);
const PHOTO_BYTES = Math.round(MB * 1_000_000);
const SERVICE_DIR = fileURLToPath(new URL('../../services/upload/', import.meta.url));

interface Figure {
  mbPerSecond: number;
  perSecond: number;
  p50: number;
  p99: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A JPEG-looking photo whose bytes differ per call (a counter in the payload), so no upload is a duplicate. */
function photoMaker(): () => Buffer {
  const base = randomBytes(PHOTO_BYTES);
  base.set([0xff, 0xd8, 0xff, 0xe0], 0);
  let n = 0;
  return () => {
    const copy = Buffer.from(base);
    copy.writeUInt32BE(++n, 16);
    return copy;
  };
}

/** Runs `send` from `CONCURRENCY` closed loops for `SECONDS`; each call moves one photo. */
async function measure(send: () => Promise<void>): Promise<Figure> {
  const latencies: number[] = [];
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        await send();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    mbPerSecond: (latencies.length * PHOTO_BYTES) / 1_000_000 / seconds,
    perSecond: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

function multipartBody(data: Buffer): { body: Buffer; contentType: string } {
  const boundary = `----bench${randomBytes(8).toString('hex')}`;
  return {
    body: Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="caption"\r\n\r\nbench #upload\r\n` +
          `--${boundary}\r\nContent-Disposition: form-data; name="photo"; filename="p.jpg"\r\n` +
          'Content-Type: image/jpeg\r\n\r\n',
      ),
      data,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

function post(
  agent: Agent,
  port: number,
  body: Buffer,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/media',
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': String(body.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`upload exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('upload did not become ready');
    await sleep(200);
  }
}

async function residentBytes(base: string): Promise<number | undefined> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('process_resident_memory_bytes'));
  return line ? Number(line.split(' ')[1]) : undefined;
}

const fmt = (f: Figure) =>
  `${f.mbPerSecond.toFixed(1).padStart(6)} MB/s ${f.perSecond.toFixed(1).padStart(6)} uploads/s ` +
  `p50 ${f.p50.toFixed(0).padStart(5)} ms p99 ${f.p99.toFixed(0).padStart(5)} ms`;

async function main(): Promise<void> {
  const ns = await openNamespace({ databases: 2 });
  const keys = makeTestKeys();
  const port = await freePort();
  const serviceEnv = {
    ...testEnvironment('upload', ns, keys),
    PG_POOL_MAX: '4',
    PORT: String(port),
    UPLOAD_MAX_BYTES: String(Math.max(25 * 1024 * 1024, PHOTO_BYTES * 2)),
    UPLOAD_RATE_MAX: '100000',
    LOG_LEVEL: 'warn',
  };
  await setupService('upload', migrations, { env: serviceEnv });
  const cores = availableParallelism();
  const pin = cores > 1 && hasTaskset();
  if (pin) execFileSync('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  const nodeArgs = [
    ...(env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${env.BENCH_PROFILE_DIR}`] : []),
    '--import',
    'tsx',
    'src/main.ts',
  ];
  const child = pin
    ? spawn('taskset', ['-c', String(cores - 1), process.execPath, ...nodeArgs], {
        cwd: SERVICE_DIR,
        env: { ...env, ...serviceEnv },
        stdio: ['ignore', 'inherit', 'inherit'],
      })
    : spawn(process.execPath, nodeArgs, {
        cwd: SERVICE_DIR,
        env: { ...env, ...serviceEnv },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
  const base = `http://127.0.0.1:${port}`;
  const s3 = s3ClientFor(ns.s3);
  // node:http with keep-alive, like the S3 SDK's handler, so both paths pay the same client costs
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    await waitReady(`${base}/readyz`, child);
    const idleRss = await residentBytes(base);
    const nextPhoto = photoMaker();
    const users = Array.from({ length: CONCURRENCY * 4 }, (_, i) => {
      const id = formatId(encode({ time: Date.now(), shard: i % 16, sequence: i }));
      return keys.tokenFor({ id, username: `bench${i}` }, 3600);
    });
    let sent = 0;
    const viaApp = async () => {
      const { body, contentType } = multipartBody(nextPhoto());
      const token = users[sent++ % users.length] as string;
      const { status, text } = await post(agent, port, body, {
        'content-type': contentType,
        authorization: `Bearer ${token}`,
      });
      if (status !== 202) throw new Error(`upload answered ${status}: ${text}`);
    };
    let raw = 0;
    const viaPut = async () => {
      await s3.send(
        new PutObjectCommand({
          Bucket: ns.s3.bucket,
          Key: `raw/${++raw}`,
          Body: nextPhoto(),
          ContentType: 'image/jpeg',
        }),
      );
    };
    // the S3 calls the service makes (lib-storage: one PutObject under 5 MiB, a multipart upload above)
    const viaLibStorage = async () => {
      await new Upload({
        client: s3,
        params: {
          Bucket: ns.s3.bucket,
          Key: `raw/${++raw}`,
          Body: Readable.from([nextPhoto()]),
          ContentType: 'image/jpeg',
        },
        partSize: 5 * 1024 * 1024,
        queueSize: 2,
      }).done();
    };
    const paths = { put: viaPut, lib: viaLibStorage, app: viaApp } as const;
    type PathName = keyof typeof paths;
    const labels: Record<PathName, string> = {
      put: 'raw S3 PutObject     ',
      lib: 'raw lib-storage Upload',
      app: 'POST /v1/media       ',
    };

    console.log(
      `upload bench: ${MB} MB photos, ${CONCURRENCY} concurrent, ${ROUNDS} rounds × ${SECONDS} s per path, ` +
        `${pin ? `service pinned to core ${cores - 1}, load + S3 emulator to core 0` : 'not pinned'}`,
    );
    // warm-up: JIT, connections, pools
    await Promise.all([viaApp(), viaPut(), viaLibStorage()]);
    const figures: Record<PathName, Figure[]> = { put: [], lib: [], app: [] };
    const ratios = { put: [] as number[], lib: [] as number[] };
    const orders: PathName[][] = [
      ['put', 'lib', 'app'],
      ['app', 'lib', 'put'],
      ['lib', 'app', 'put'],
    ];
    for (let round = 1; round <= ROUNDS; round++) {
      // rotate the order, so drift favours no path
      const got: Partial<Record<PathName, Figure>> = {};
      for (const path of orders[(round - 1) % orders.length] as PathName[])
        got[path] = await measure(paths[path]);
      for (const path of ['put', 'lib', 'app'] as const) {
        const f = got[path] as Figure;
        figures[path].push(f);
        console.log(`round ${round}  ${labels[path]} ${fmt(f)}`);
      }
      const app = (got.app as Figure).mbPerSecond;
      ratios.put.push(app / (got.put as Figure).mbPerSecond);
      ratios.lib.push(app / (got.lib as Figure).mbPerSecond);
    }
    const rss = await residentBytes(base);
    const med = (path: PathName, key: keyof Figure) =>
      median(figures[path].map((f) => f[key])).toFixed(key === 'mbPerSecond' ? 1 : 0);
    console.log('---');
    for (const path of ['put', 'lib', 'app'] as const) {
      console.log(
        `median  ${labels[path]} ${med(path, 'mbPerSecond')} MB/s  p50 ${med(path, 'p50')} ms  p99 ${med(path, 'p99')} ms`,
      );
    }
    console.log(
      `ratio POST /v1/media ÷ raw PutObject (throughput, median of rounds): ${median(ratios.put).toFixed(2)}`,
    );
    console.log(
      `ratio POST /v1/media ÷ raw lib-storage Upload (same S3 calls):      ${median(ratios.lib).toFixed(2)}`,
    );
    const mib = (bytes: number | undefined) => (bytes === undefined ? '?' : (bytes / 1024 / 1024).toFixed(0));
    console.log(`upload process resident memory: ${mib(idleRss)} MiB idle, ${mib(rss)} MiB after the run`);
    const m = (path: PathName, key: keyof Figure) => median(figures[path].map((f) => f[key]));
    reportFigures('upload', 'npm run bench -- upload', [
      {
        figure: `POST /v1/media, ${MB} MB photos, ${CONCURRENCY} concurrent`,
        value: m('app', 'mbPerSecond'),
        unit: 'MB/s',
        baseline: 'raw S3 PutObject',
        baselineValue: m('put', 'mbPerSecond'),
        ratio: median(ratios.put),
      },
      {
        figure: `POST /v1/media, ${MB} MB photos, ${CONCURRENCY} concurrent`,
        value: m('app', 'mbPerSecond'),
        unit: 'MB/s',
        baseline: 'raw lib-storage Upload',
        baselineValue: m('lib', 'mbPerSecond'),
        ratio: median(ratios.lib),
      },
      {
        figure: 'POST /v1/media p99',
        value: m('app', 'p99'),
        unit: 'ms',
        baseline: 'raw S3 PutObject',
        baselineValue: m('put', 'p99'),
        ratio: latencyRatio(m('app', 'p99'), m('put', 'p99')),
      },
    ]);
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    s3.destroy();
    agent.destroy();
    await ns.close();
    await stopTestInfra();
  }
}

await main();
