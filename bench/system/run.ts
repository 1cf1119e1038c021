/**
 * System benchmark: the real stack (five services as processes, nginx, an S3 emulator process) loaded only
 * over HTTP through the gateway, in three phases, each next to its raw baseline measured in the same run:
 *
 *   1. reads alone: the read mix at a constant request rate, open loop (wrk2 style, latency from each
 *      request's due time): 50% GET /v1/feed, 25% profile grid GET /v1/users/:id/posts (profiles by the
 *      same Zipf law as follows), 10% GET /v1/posts/:id, 10% GET /v1/users/:username, 5% GET
 *      /v1/notifications — throughput and p50/p99/p99.9, next to a bare Fastify route behind the same nginx
 *      (`/bench/bare`, gateway.ts) at the same rate, in alternating rounds; plus each one's capacity (closed
 *      loop, BENCH_CONNECTIONS callers); then each of the five endpoints alone next to the bare route, side
 *      by side in each round (reads.ts/wrk.ts: wrk, BENCH_ENDPOINT_CONNECTIONS for BENCH_ENDPOINT_SECONDS),
 *      first without Accept-Encoding (as wrk and curl ask), then as browsers and phone apps ask (gzip);
 *   2. uploads alone: photos from POST /v1/media to `published` (GET /v1/media/:id/status) and into a
 *      follower's feed, in photos/s and upload→published/feed p50/p99, next to raw sharp doing the same
 *      renditions (media-processing's renderImage, one at a time, on a thread of this process of its own,
 *      raw-thread.ts): the phone-sized photo (1080×1350 JPEG, ~110 KB) first, then 12 MP (4000×3000, several
 *      MB); media-processing has CPU 1 to itself meanwhile (the uploading clients run on CPU 0);
 *   3. both at once: the read mix at the same rate while phone photos are uploaded flat out
 *      (BENCH_PHOTOS_IN_FLIGHT at a time, media-processing at idle priority (SCHED_IDLE) as the stack runs it): reads and
 *      publishes as separate figures, next to the bare route behind nginx and raw sharp.
 *
 * CPUs: `npm run bench` runs this pinned to CPU 1 (`taskset -c 1`) with Postgres/Redis/NATS on CPU 0.
 * Every process this benchmark spawns (services, nginx master + workers, S3 emulator, baseline server)
 * inherits CPU 1; once started they are all moved with `taskset -a -p -c` (pin.ts walks this process's
 * descendants in /proc): to CPUs 0-1 while the graph is seeded (sign-up is scrypt-bound), then to CPU 0
 * for every measured phase, so the load generator has CPU 1 — except media-processing, which goes to CPU 1
 * as the local stack confines it to every CPU but the first (at SCHED_IDLE: the generator preempts it).
 * media-processing's images in flight are the stack's (three on that one CPU: deploy/local mediaProcessingDefaults).
 *
 * Seeding (seed.ts): sign-ups over HTTP, tokens minted with the stack's JWT key, follows over HTTP with
 * Zipf-distributed followees, posts as `media.processed` events that the real consumers turn into posts
 * and timelines.
 *
 *   npm run bench -- system                  (or: npx tsx bench/system/run.ts, unpinned)
 *
 * Env: BENCH_USERS (1000), BENCH_FOLLOWS (8 per user), BENCH_ZIPF (1.0), BENCH_POSTS_PER_USER (2),
 * BENCH_RATE (500 req/s), BENCH_ROUNDS (2), BENCH_SECONDS (15 per run and round), BENCH_WARMUP_SECONDS (10),
 * BENCH_CONNECTIONS (32) and BENCH_CAPACITY_SECONDS (10) for the closed-loop capacity run,
 * BENCH_PHOTOS (24 phone photos), BENCH_PHOTOS_12MP (6), BENCH_PHOTOS_IN_FLIGHT (8, the uploaders),
 * BENCH_SEED_CONCURRENCY (32), BENCH_MIX (50/25/10/10/5: feed/grid/post/profile/notifications percentages),
 * BENCH_ENDPOINT_CONNECTIONS (50) and BENCH_ENDPOINT_SECONDS (5) for each endpoint next to the bare route.
 */
import { performance } from 'node:perf_hooks';
import { openNamespace, stopTestInfra } from '@instantpost/testing';
import { connect } from 'nats';
import { openTestStack } from '../../deploy/local/test/stack-fixture.ts';
import { type BenchFigure, latencyRatio, rateRatio, reportFigures } from '../report.ts';
import { startHelper, startS3 } from './children.ts';
import { coresSince, stackGroups } from './cpu.ts';
import { BARE_PATH, routeBareThroughGateway } from './gateway.ts';
import { HttpClient } from './http.ts';
import { closedLoop, type OpenLoopResult, type PlannedCall, pooled } from './load.ts';
import { LoadThread } from './load-thread.ts';
import { mixShares, readMix } from './mix.ts';
import { haveTaskset, ownCpus, pinProcesses, pinTree, schedule } from './pin.ts';
import {
  type PipelineResult,
  phonePhoto,
  twelveMegapixelPhoto,
  uploadsAlone,
  uploadsDuring,
} from './pipeline.ts';
import { rawRenderingOffThread } from './raw-thread.ts';
import { bareEndpoint, readEndpoints } from './reads.ts';
import {
  followZipf,
  openFeeds,
  prng,
  publishPosts,
  settled,
  signUpUsers,
  type User,
  uploadingAuthor,
} from './seed.ts';
import { type EndpointFigure, endpointRounds, haveWrk, requestEncoding } from './wrk.ts';

const env = process.env;
const USERS = Number(env.BENCH_USERS ?? 1000);
const FOLLOWS = Number(env.BENCH_FOLLOWS ?? 8);
const ZIPF_S = Number(env.BENCH_ZIPF ?? 1.0);
const POSTS_PER_USER = Number(env.BENCH_POSTS_PER_USER ?? 2);
// The rate (read p99 ≤ 50 ms at 500 req/s with uploads flat out).
const RATE = Number(env.BENCH_RATE ?? 500);
const SECONDS = Number(env.BENCH_SECONDS ?? 15);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 32);
const CAPACITY_SECONDS = Number(env.BENCH_CAPACITY_SECONDS ?? 10);
// Right after seeding every cache is cold: a 2 s warm-up left the first round's p99 at 1.8 s (and 429s).
const WARMUP_SECONDS = Number(env.BENCH_WARMUP_SECONDS ?? 10);
const PHOTOS = Number(env.BENCH_PHOTOS ?? 24);
const PHOTOS_12MP = Number(env.BENCH_PHOTOS_12MP ?? 6);
/**
 * Each uploader waits for its photo to be published before the next, so the pipeline is kept busy only when
 * uploaders × upload→published latency (~0.6 s) exceeds what it can do: with 4, media-processing sat at
 * 0.70 of its CPU and the figure was the uploaders' limit, not the pipeline's.
 */
const PHOTOS_IN_FLIGHT = Number(env.BENCH_PHOTOS_IN_FLIGHT ?? 8);
const SEED_CONCURRENCY = Number(env.BENCH_SEED_CONCURRENCY ?? 32);
const MIX = mixShares(env.BENCH_MIX);
/** Each read endpoint's capacity next to the bare route's, side by side (wrk, closed loop). */
const ENDPOINT_CONNECTIONS = Number(env.BENCH_ENDPOINT_CONNECTIONS ?? 50);
const ENDPOINT_SECONDS = Number(env.BENCH_ENDPOINT_SECONDS ?? 5);
/** What browsers send (Chromium), and near enough what OkHttp and NSURLSession do. */
const GZIP_CLIENT = 'gzip, deflate, br';

const log = (line: string) => process.stdout.write(`${line}\n`);
const ms = (x: number) => `${x.toFixed(1)} ms`;
const began = performance.now();
const elapsed = () => `${((performance.now() - began) / 1000).toFixed(0)} s`;

log(
  `system: load generator on CPU ${ownCpus()}; taskset ${haveTaskset ? 'available' : 'missing (nothing pinned)'}`,
);
// Everything started is stopped in reverse order, also when a later step fails.
const cleanups: (() => Promise<unknown> | unknown)[] = [];
async function cleanUp() {
  for (const step of cleanups.reverse()) {
    try {
      await step();
    } catch (err) {
      log(`cleanup: ${(err as Error).message}`);
    }
  }
}
function printPipeline(p: PipelineResult) {
  log(
    `  pipeline: ${p.photos} photos, ${p.publishedPerSecond.toFixed(2)} photos/s published, sustained (${(p.photos / p.seconds).toFixed(2)} first upload to last published); upload→published p50 ${ms(p.uploadToPublished.p50)} p99 ${ms(p.uploadToPublished.p99)}; upload→feed p50 ${ms(p.uploadToFeed.p50)} p99 ${ms(p.uploadToFeed.p99)}`,
  );
}
function printLoad(name: string, r: OpenLoopResult) {
  log(
    `  ${name}: ${r.ok}/${r.sent} ok, ${r.failed} failed, ${r.throughput.toFixed(1)} req/s, p50 ${ms(r.p50)} p99 ${ms(r.p99)} p99.9 ${ms(r.p999)}; generator's event-loop delay p99 ${ms(r.generatorDelay.p99)} max ${ms(r.generatorDelay.max)}`,
  );
  for (const [kind, k] of Object.entries(r.byKind))
    log(`    ${kind.padEnd(8)} ${String(k.count).padStart(6)}  p50 ${ms(k.p50)}  p99 ${ms(k.p99)}`);
  for (const f of r.failures) log(`    failure: ${f}`);
}

try {
  const s3 = await startS3();
  cleanups.push(() => s3.stop());
  env.TEST_S3_ENDPOINT = `http://127.0.0.1:${s3.port}`;
  const bare = await startHelper('./bare.ts');
  cleanups.push(
    () => bare.stop(),
    () => stopTestInfra(),
  );
  const ns = await openNamespace({ databases: 2 });
  cleanups.push(() =>
    ns.close().catch((err: Error) => {
      // Databases, Redis keys and streams go first; emptying the bucket last can fail on s3rver (an
      // InternalError on DeleteObjects), harmless here: the emulator's process removes its directory.
      log(`namespace cleanup: ${err.message} (the S3 emulator's directory is removed with it)`);
    }),
  );
  const running = await openTestStack(ns, {
    // media-processing keeps the stack's images in flight (deploy/local mediaProcessingDefaults).
    env: { UPLOAD_RATE_MAX: '100000' },
    postgresSocket: true,
  });
  cleanups.push(() => running.stop());
  const nc = await connect({ servers: ns.nats.servers, name: 'bench-system' });
  cleanups.push(() => nc.close());
  const jsm = await nc.jetstreamManager();
  const api = new HttpClient(running.url);
  // Who takes the CPU during a phase: the stack's processes, the shared servers, this load generator.
  const cpuGroups = stackGroups(running.stack.processes, {
    's3 emulator': [s3.pid],
    'load generator': [process.pid],
  });
  // The open-loop runs (latencies) come from a thread of their own; see load-thread.ts.
  const reader = new LoadThread(running.url);
  // The uploading phone is another client than the readers: its own address, so a read mix backed up
  // against the gateway's per-address connection limit (429) does not refuse the uploads too.
  const uploader = new HttpClient(running.url, 64, '127.0.0.2');
  cleanups.push(
    () => api.close(),
    () => reader.close(),
    () => uploader.close(),
  );
  log(`stack up at ${running.url} (${elapsed()}); ${pinTree('0-1')} processes on CPUs 0-1 for seeding`);

  // --- seed -------------------------------------------------------------------------------------------
  let t = performance.now();
  const users = await signUpUsers(
    api,
    USERS,
    SEED_CONCURRENCY,
    running.options.env.JWT_PRIVATE_KEY as string,
  );
  log(`signed up ${USERS} users over HTTP in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const random = prng(42);
  t = performance.now();
  const edges = await followZipf(api, users, FOLLOWS, ZIPF_S, SEED_CONCURRENCY, random);
  const counts = users.map((u) => u.followers).sort((a, b) => b - a);
  log(
    `${edges} follows over HTTP in ${((performance.now() - t) / 1000).toFixed(1)} s; followers: max ${counts[0]}, ` +
      `p99 ${counts[Math.floor(USERS * 0.01)]}, median ${counts[Math.floor(USERS / 2)]}, ` +
      `${counts.filter((c) => c === 0).length} with none (Zipf s=${ZIPF_S})`,
  );
  await openFeeds(api, users, SEED_CONCURRENCY);
  t = performance.now();
  const posts = await publishPosts(nc, ns.nats.prefix, users, POSTS_PER_USER);
  await settled(jsm, ns.nats.prefix);
  log(
    `${posts.length} posts as media.processed events, consumed and fanned out in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  const sample = await api.send({ method: 'GET', path: '/v1/feed', token: (users[USERS - 1] as User).token });
  const sampleItems = (JSON.parse(sample.text) as { items: unknown[] }).items.length;
  if (sample.status !== 200 || sampleItems === 0)
    throw new Error(`seeded feed is empty: ${sample.status} ${sample.text.slice(0, 200)}`);
  log(`seeded (${elapsed()}); a feed page holds ${sampleItems} posts`);

  // --- the raw baselines' setup -----------------------------------------------------------------------
  await routeBareThroughGateway(running.stack.gateway.configFile, running.url, bare.port);
  // media-processing goes where the local stack confines it (every CPU but the first): CPU 1, beside this
  // load generator, which preempts it (SCHED_IDLE); the read path keeps CPU 0 free of image work.
  const mediaPids = running.stack
    .replicasOf('media-processing')
    .flatMap(({ pid }) => (pid === undefined ? [] : [String(pid)]));
  /** Every process of the stack to CPU 0 but media-processing, to CPU 1; before every measured run. */
  const pinForMeasuring = (): number => {
    const pinned = pinTree('0');
    pinProcesses(mediaPids, '1');
    return pinned;
  };
  log(`${pinForMeasuring()} processes pinned to CPU 0 for the measured phases`);
  log('media-processing pinned to CPU 1 (SCHED_IDLE, beside the load generator)');
  /**
   * Uploads alone measure the pipeline against raw sharp, so media-processing runs at raw sharp's (normal)
   * priority there: at SCHED_IDLE any other work on the machine would starve it (measured: 0.10 of a core
   * and 0.17 of raw sharp while other work kept CPU 1 busy); nice 0 as raw sharp. Both at once runs it at SCHED_IDLE again, as
   * the stack does.
   */
  const mix = readMix(users, posts, ZIPF_S, MIX, prng(7));
  // The bare route behind the same nginx: the read path's physical limit through this gateway.
  const bareCall = (): PlannedCall => ({ kind: 'bare', method: 'GET', path: BARE_PATH, expect: 200 });
  const { author, follower: followerOfAuthor } = uploadingAuthor(users);
  const phone = await phonePhoto();
  const twelve = await twelveMegapixelPhoto();

  /** One open-loop run after its warm-up. */
  const measure = async (call: () => PlannedCall) => {
    await reader.openLoop(RATE, WARMUP_SECONDS, call);
    return reader.openLoop(RATE, SECONDS, call);
  };

  // --- 1. reads alone vs the bare route behind nginx ----------------------------------------------------
  log(
    `1. reads alone: open loop at ${RATE} req/s, ${ROUNDS} rounds of ${WARMUP_SECONDS} s warm-up + ${SECONDS} s measured each (${elapsed()}):`,
  );
  const bareRuns: OpenLoopResult[] = [];
  const readRuns: OpenLoopResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    await settled(jsm, ns.nats.prefix);
    bareRuns.push(await measure(bareCall));
    printLoad(`round ${round} bare route via nginx`, bareRuns.at(-1) as OpenLoopResult);
    const cores = coresSince(cpuGroups);
    readRuns.push(await measure(mix));
    const used = cores();
    printLoad(`round ${round} read mix via nginx`, readRuns.at(-1) as OpenLoopResult);
    log(`  cores used: ${used}`);
  }
  const bareAlone = pooled(bareRuns);
  const readsAlone = pooled(readRuns);
  printLoad('all rounds, bare route via nginx', bareAlone);
  printLoad('all rounds, read mix via nginx', readsAlone);
  const bareCapacity = await closedLoop(api, CONNECTIONS, CAPACITY_SECONDS, bareCall);
  const readCapacity = await closedLoop(api, CONNECTIONS, CAPACITY_SECONDS, mix);
  log(
    `capacity, closed loop, ${CONNECTIONS} connections, ${CAPACITY_SECONDS} s: bare route via nginx ${bareCapacity.throughput.toFixed(0)} req/s ` +
      `(${bareCapacity.failed} failed), read mix ${readCapacity.throughput.toFixed(1)} req/s (${readCapacity.failed} failed)`,
  );
  log(
    `each read endpoint next to the bare route, ${haveWrk ? 'wrk' : 'Node'} closed loop, ${ENDPOINT_CONNECTIONS} connections, ${ROUNDS} rounds of ${ENDPOINT_SECONDS} s:`,
  );
  const endpointsAs = (encoding: string | undefined) => {
    requestEncoding.value = encoding;
    return endpointRounds(
      running.url,
      api,
      bareEndpoint,
      readEndpoints(users, posts, ZIPF_S),
      {
        rounds: ROUNDS,
        connections: ENDPOINT_CONNECTIONS,
        seconds: ENDPOINT_SECONDS,
        warmupSeconds: 2,
        // Phase 1 runs the whole stack on CPU 0 (an nginx worker was once found on both CPUs, reads.ts), and
        // media-processing must go back to CPU 1 after it: pinning the tree alone left it on CPU 0 for the
        // upload phases, which then measured photo processing on the read path's CPU.
        beforeRound: pinForMeasuring,
        cpuOfRun: () => coresSince(cpuGroups),
      },
      log,
    ).finally(() => {
      requestEncoding.value = undefined;
    });
  };
  // As wrk and curl ask by default (no Accept-Encoding: JSON as it is), then as browsers and the mobile
  // HTTP clients do (gzip: the services' kept pages go gzipped, the gateway compresses the rest).
  const endpoints = await endpointsAs(undefined);
  log(`the same, every request with Accept-Encoding: ${GZIP_CLIENT}:`);
  const endpointsGzip = await endpointsAs(GZIP_CLIENT);

  // --- 2. uploads alone vs raw sharp doing the same renditions ------------------------------------------
  const pipelineAlone = async (name: string, photo: Buffer, count: number) => {
    await settled(jsm, ns.nats.prefix);
    log(
      `2. uploads alone (${elapsed()}): ${count} ${name} photos (${(photo.length / 1e3).toFixed(0)} KB), ${PHOTOS_IN_FLIGHT} in flight, author with ${author.followers} followers`,
    );
    const { result, mediaCpuMsPerPhoto, cores } = await uploadsAlone(
      cpuGroups,
      uploader,
      author,
      followerOfAuthor,
      photo,
      count,
      PHOTOS_IN_FLIGHT,
    );
    printPipeline(result);
    log(`  cores used: ${cores}; media-processing's CPU per photo ${ms(mediaCpuMsPerPhoto)}`);
    const raw = await rawRenderingOffThread(photo, Math.max(3, Math.ceil(count / 2)));
    log(
      `  raw sharp, same renditions: ${raw.perSecond.toFixed(2)} photos/s, p50 ${ms(raw.p50)} p99 ${ms(raw.p99)}, CPU per photo ${ms(raw.cpuMsPerPhoto)}`,
    );
    return { result, raw };
  };
  schedule(mediaPids, '--other');
  const phoneAlone = await pipelineAlone('phone-sized 1080×1350', phone, PHOTOS);
  const twelveAlone = await pipelineAlone('12 MP', twelve, PHOTOS_12MP);
  schedule(mediaPids, '--idle');

  // --- 3. both at once ----------------------------------------------------------------------------------
  log(
    `3. both at once (${elapsed()}): read mix at ${RATE} req/s while phone photos upload flat out, ${PHOTOS_IN_FLIGHT} in flight; ${ROUNDS} rounds`,
  );
  const bareBothRuns: OpenLoopResult[] = [];
  const readBothRuns: OpenLoopResult[] = [];
  const uploadBothRuns: PipelineResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    await settled(jsm, ns.nats.prefix);
    bareBothRuns.push(await measure(bareCall));
    printLoad(`round ${round} bare route via nginx (quiet stack)`, bareBothRuns.at(-1) as OpenLoopResult);
    const { during, uploads } = await uploadsDuring(
      async () => {
        const cores = coresSince(cpuGroups);
        const reads = await measure(mix);
        return { reads, used: cores() };
      },
      uploader,
      author,
      followerOfAuthor,
      phone,
      PHOTOS_IN_FLIGHT,
    );
    const { used } = during;
    readBothRuns.push(during.reads);
    uploadBothRuns.push(uploads);
    printLoad(`round ${round} read mix via nginx, uploads running`, readBothRuns.at(-1) as OpenLoopResult);
    printPipeline(uploadBothRuns.at(-1) as PipelineResult);
    log(`  cores used: ${used}`);
  }
  const bareBoth = pooled(bareBothRuns);
  const readsBoth = pooled(readBothRuns);
  const publishedBoth =
    uploadBothRuns.reduce((acc, r) => acc + r.photos, 0) /
    uploadBothRuns.reduce((acc, r) => acc + r.photos / r.publishedPerSecond, 0);
  printLoad('all rounds, read mix via nginx, uploads running', readsBoth);
  log(`  all rounds: ${publishedBoth.toFixed(2)} phone photos/s published beside the reads`);

  const latencyRows = (
    label: string,
    measured: OpenLoopResult,
    baseline: OpenLoopResult,
    baselineName: string,
  ): BenchFigure[] => [
    ...(['p50', 'p99', 'p999'] as const).map((p) => ({
      figure: `${label}: read mix latency ${p === 'p999' ? 'p99.9' : p}`,
      value: measured[p],
      unit: 'ms',
      baseline: baselineName,
      baselineValue: baseline[p],
      ratio: latencyRatio(measured[p], baseline[p]),
    })),
    ...(
      [
        ['feed', 'GET /v1/feed p99'],
        ['grid', 'profile grid GET /v1/users/:id/posts p99'],
        ['post', 'GET /v1/posts/:id p99'],
        ['profile', 'GET /v1/users/:username p99'],
        ['notifications', 'GET /v1/notifications p99'],
      ] as const
    ).map(([kind, figure]) => {
      const value = measured.byKind[kind]?.p99 ?? Number.NaN;
      return {
        figure: `${label}: ${figure}`,
        value,
        unit: 'ms',
        baseline: `${baselineName} p99`,
        baselineValue: baseline.p99,
        ratio: latencyRatio(value, baseline.p99),
      };
    }),
  ];
  const pipelineRows = (
    label: string,
    { result, raw }: { result: PipelineResult; raw: { perSecond: number; p50: number; p99: number } },
  ): BenchFigure[] => [
    {
      figure: `${label}: upload → published, sustained`,
      value: result.publishedPerSecond,
      unit: 'photos/s',
      baseline: 'raw sharp, same renditions, 1 core',
      baselineValue: raw.perSecond,
      ratio: rateRatio(result.publishedPerSecond, raw.perSecond),
    },
    {
      figure: `${label}: upload → follower feed p50`,
      value: result.uploadToFeed.p50,
      unit: 'ms',
      baseline: 'raw sharp p50',
      baselineValue: raw.p50,
      ratio: latencyRatio(result.uploadToFeed.p50, raw.p50),
    },
    {
      figure: `${label}: upload → follower feed p99`,
      value: result.uploadToFeed.p99,
      unit: 'ms',
      baseline: 'raw sharp p99',
      baselineValue: raw.p99,
      ratio: latencyRatio(result.uploadToFeed.p99, raw.p99),
    },
  ];
  const reads = `reads alone (${MIX.join('/')} feed/grid/post/profile/notifications, ${RATE} req/s open loop, ${USERS} users, ${ROUNDS}×${SECONDS} s)`;
  const both = `reads + phone uploads flat out (${PHOTOS_IN_FLIGHT} in flight)`;
  const figures: BenchFigure[] = [
    {
      figure: `${reads}: throughput`,
      value: readsAlone.throughput,
      unit: 'req/s',
      baseline: 'bare route via nginx, same rate',
      baselineValue: bareAlone.throughput,
      ratio: rateRatio(readsAlone.throughput, bareAlone.throughput),
    },
    ...latencyRows('reads alone', readsAlone, bareAlone, 'bare route via nginx'),
    {
      figure: `reads alone: capacity, closed loop, ${CONNECTIONS} connections`,
      value: readCapacity.throughput,
      unit: 'req/s',
      baseline: 'bare route via nginx, same',
      baselineValue: bareCapacity.throughput,
      ratio: rateRatio(readCapacity.throughput, bareCapacity.throughput),
    },
    ...endpointRows(`reads alone, ${ENDPOINT_CONNECTIONS} connections`, endpoints),
    ...endpointRows(`reads alone, ${ENDPOINT_CONNECTIONS} connections, Accept-Encoding: gzip`, endpointsGzip),
    ...pipelineRows(`uploads alone, phone 1080×1350 JPEG ${(phone.length / 1e3).toFixed(0)} KB`, phoneAlone),
    ...pipelineRows(`uploads alone, 12 MP JPEG ${(twelve.length / 1e6).toFixed(1)} MB`, twelveAlone),
    {
      figure: `${both}: read throughput`,
      value: readsBoth.throughput,
      unit: 'req/s',
      baseline: 'bare route via nginx, same rate',
      baselineValue: bareBoth.throughput,
      ratio: rateRatio(readsBoth.throughput, bareBoth.throughput),
    },
    ...latencyRows(both, readsBoth, bareBoth, 'bare route via nginx'),
    {
      figure: `${both}: phone photos published`,
      value: publishedBoth,
      unit: 'photos/s',
      baseline: 'raw sharp, same renditions, 1 core',
      baselineValue: phoneAlone.raw.perSecond,
      ratio: rateRatio(publishedBoth, phoneAlone.raw.perSecond),
    },
  ];
  const notes =
    'Anchors: the bare Fastify route behind the same nginx (the physical limit of one Node process here); Instagram published ' +
    '~25 photos/s for the whole service in 2011; DeathStarBench measures its social network open loop, wrk2 style (as the read mix ' +
    'here). Issue 17 aims at each read endpoint ≥ 0.5 of the bare route with p99 ≤ 20 ms at 50 connections, read p99 ≤ 50 ms at ' +
    '500 req/s with uploads flat out, and the pipeline ≥ 0.85 of raw sharp. ' +
    'media-processing runs at idle priority (SCHED_IDLE) on CPU 1 beside the load generator, the read path on CPU 0 (deploy/local/README.md).';
  // The knobs this run was given, so a small run is never read as a default one in BENCHMARKS.md.
  const knobs = Object.entries(env)
    .filter(([k]) => k.startsWith('BENCH_') && k !== 'BENCH_REPORT')
    .map(([k, v]) => `${k}=${v} `)
    .sort()
    .join('');
  reportFigures('system', `${knobs}npm run bench -- system`, figures, notes);
  log(`done in ${elapsed()}`);
} finally {
  await cleanUp();
}

/** Each endpoint's throughput and p99 next to the bare route's of the same rounds. */
function endpointRows(label: string, endpoints: readonly EndpointFigure[]): BenchFigure[] {
  return endpoints.flatMap((e): BenchFigure[] => [
    {
      figure: `${label}: ${e.name}`,
      value: e.throughput,
      unit: 'req/s',
      baseline: 'bare route via nginx, same rounds',
      baselineValue: e.bareThroughput,
      ratio: e.ratio,
    },
    // The Node fallback (no wrk) measures no latencies.
    ...(Number.isNaN(e.p99)
      ? []
      : [
          {
            figure: `${label}: ${e.name} p99`,
            value: e.p99,
            unit: 'ms',
            baseline: 'bare route via nginx p99',
            baselineValue: e.bareP99,
            ratio: latencyRatio(e.p99, e.bareP99),
          },
        ]),
  ]);
}
