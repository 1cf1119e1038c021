/**
 * System benchmark: the real stack (five services as processes, nginx, an S3 emulator process) loaded only
 * over HTTP through the gateway, next to raw baselines measured in the same run:
 *
 *   1. read mix at a constant request rate, open loop (wrk2 style, latency from each request's due time):
 *      60% GET /v1/feed, 30% profile grid GET /v1/users/:id/posts (profiles picked by the same Zipf law as
 *      follows), 10% publish (POST /v1/media of a small JPEG) — achieved throughput and p50/p99/p99.9,
 *      next to a bare Fastify route (its own process, hit directly, no nginx) at the same rate;
 *      plus each one's capacity (closed loop, BENCH_CONNECTIONS callers), so the rate can be read against it;
 *   2. upload pipeline: 12 MP photos from POST /v1/media to `published` (GET /v1/media/:id/status), in
 *      photos/s, and upload-to-feed latency p50/p99 (until the post is in a follower's GET /v1/feed), next
 *      to the service's own image work (renderImage) on the same photo in this process.
 *
 * CPUs: `npm run bench` runs this pinned to CPU 1 (`taskset -c 1`) with Postgres/Redis/NATS on CPU 0.
 * Every process this benchmark spawns (services, nginx master + workers, S3 emulator, baseline server)
 * inherits CPU 1; once started they are all moved with `taskset -a -p -c` (pin.ts walks this process's
 * descendants in /proc): to CPUs 0-1 while the graph is seeded (sign-up is scrypt-bound), then to CPU 0
 * for every measured phase, so the load generator alone has CPU 1. MEDIA_CONCURRENCY=1 (one core).
 *
 * Seeding (seed.ts): sign-ups over HTTP, tokens minted with the stack's JWT key, follows over HTTP with
 * Zipf-distributed followees, posts as `media.processed` events that the real consumers turn into posts
 * and timelines.
 *
 *   npm run bench -- system                  (or: npx tsx bench/system/run.ts, unpinned)
 *
 * Env: BENCH_USERS (1000), BENCH_FOLLOWS (8 per user), BENCH_ZIPF (1.0), BENCH_POSTS_PER_USER (2),
 * BENCH_RATE (100 req/s), BENCH_ROUNDS (2), BENCH_SECONDS (15 per run and round), BENCH_WARMUP_SECONDS (5),
 * BENCH_CONNECTIONS (32) and BENCH_CAPACITY_SECONDS (10) for the closed-loop capacity run,
 * BENCH_PHOTOS (12 photos of 12 MP), BENCH_PHOTOS_IN_FLIGHT (2), BENCH_SEED_CONCURRENCY (32),
 * BENCH_MIX (60/30/10: feed/grid/publish percentages).
 */
import { performance } from 'node:perf_hooks';
import { openNamespace, stopTestInfra } from '@instantpost/testing';
import { connect } from 'nats';
import sharp from 'sharp';
import { openTestStack } from '../../deploy/local/test/stack-fixture.ts';
import { type BenchFigure, latencyRatio, rateRatio, reportFigures } from '../report.ts';
import { startHelper } from './children.ts';
import { HttpClient, photoUpload } from './http.ts';
import { closedLoop, type OpenLoopResult, openLoop, type PlannedCall, pooled } from './load.ts';
import { haveTaskset, ownCpus, pinTree } from './pin.ts';
import { distinct, rawRendering, twelveMegapixelPhoto, uploadPipeline } from './pipeline.ts';
import { followZipf, prng, publishPosts, settled, signUpUsers, type User, zipf } from './seed.ts';

const env = process.env;
const USERS = Number(env.BENCH_USERS ?? 1000);
const FOLLOWS = Number(env.BENCH_FOLLOWS ?? 8);
const ZIPF_S = Number(env.BENCH_ZIPF ?? 1.0);
const POSTS_PER_USER = Number(env.BENCH_POSTS_PER_USER ?? 2);
const RATE = Number(env.BENCH_RATE ?? 100);
const SECONDS = Number(env.BENCH_SECONDS ?? 15);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 32);
const CAPACITY_SECONDS = Number(env.BENCH_CAPACITY_SECONDS ?? 10);
const WARMUP_SECONDS = Number(env.BENCH_WARMUP_SECONDS ?? 5);
const PHOTOS = Number(env.BENCH_PHOTOS ?? 12);
const PHOTOS_IN_FLIGHT = Number(env.BENCH_PHOTOS_IN_FLIGHT ?? 2);
const SEED_CONCURRENCY = Number(env.BENCH_SEED_CONCURRENCY ?? 32);
/** `feed/grid/publish` percentages of the read mix. */
const MIX = (env.BENCH_MIX ?? '60/30/10').split('/').map(Number);
if (MIX.length !== 3 || MIX.some((n) => !Number.isFinite(n) || n < 0) || MIX.reduce((a, b) => a + b) !== 100)
  throw new Error(
    `BENCH_MIX must be three percentages feed/grid/publish adding up to 100, got ${env.BENCH_MIX}`,
  );
const [FEED_SHARE, GRID_SHARE] = MIX.map((n) => n / 100) as [number, number, number];

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
function printLoad(name: string, r: OpenLoopResult) {
  log(
    `  ${name}: ${r.ok}/${r.sent} ok, ${r.failed} failed, ${r.throughput.toFixed(1)} req/s, p50 ${ms(r.p50)} p99 ${ms(r.p99)} p99.9 ${ms(r.p999)}`,
  );
  for (const [kind, k] of Object.entries(r.byKind))
    log(`    ${kind.padEnd(8)} ${String(k.count).padStart(6)}  p50 ${ms(k.p50)}  p99 ${ms(k.p99)}`);
  for (const f of r.failures) log(`    failure: ${f}`);
}

try {
  const s3 = await startHelper('./s3.ts');
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
    env: { UPLOAD_RATE_MAX: '100000', MEDIA_CONCURRENCY: '1', UV_THREADPOOL_SIZE: '4' },
  });
  cleanups.push(() => running.stop());
  const nc = await connect({ servers: ns.nats.servers, name: 'bench-system' });
  cleanups.push(() => nc.close());
  const jsm = await nc.jetstreamManager();
  const api = new HttpClient(running.url);
  const bareClient = new HttpClient(`http://127.0.0.1:${bare.port}`);
  cleanups.push(
    () => api.close(),
    () => bareClient.close(),
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

  // --- read mix vs bare route -------------------------------------------------------------------------
  log(`${pinTree('0')} processes pinned to CPU 0 for the measured phases`);
  const pick = prng(7);
  const popular = zipf(USERS, ZIPF_S, pick);
  const anyone = () => users[Math.floor(pick() * USERS)] as User;
  const smallPhoto = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#5a8cc8' } })
    .jpeg({ quality: 85 })
    .toBuffer();
  const mix = (i: number): PlannedCall => {
    const x = pick();
    if (x < FEED_SHARE)
      return { kind: 'feed', method: 'GET', path: '/v1/feed', token: anyone().token, expect: 200 };
    if (x < FEED_SHARE + GRID_SHARE) {
      const profile = users[popular()] as User;
      return {
        kind: 'grid',
        method: 'GET',
        path: `/v1/users/${profile.id}/posts`,
        token: anyone().token,
        expect: 200,
      };
    }
    return {
      kind: 'publish',
      method: 'POST',
      path: '/v1/media',
      token: anyone().token,
      raw: photoUpload(distinct(smallPhoto, i), `mix ${i}`),
      expect: 202,
    };
  };
  const bareCall = (): PlannedCall => ({ kind: 'bare', method: 'GET', path: '/bare', expect: 200 });
  // Alternating rounds (PITFALLS: this shared machine drifts); each baseline run starts on a quiet stack,
  // since the mix's publishes leave photos processing on CPU 0 after it.
  log(
    `open loop at ${RATE} req/s, ${ROUNDS} rounds of ${WARMUP_SECONDS} s warm-up + ${SECONDS} s measured each (${elapsed()}):`,
  );
  const baselineRuns: OpenLoopResult[] = [];
  const mixRuns: OpenLoopResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    await settled(jsm, ns.nats.prefix);
    await openLoop(bareClient, RATE, WARMUP_SECONDS, bareCall);
    baselineRuns.push(await openLoop(bareClient, RATE, SECONDS, bareCall));
    printLoad(`round ${round} bare Fastify route`, baselineRuns.at(-1) as OpenLoopResult);
    await openLoop(api, RATE, WARMUP_SECONDS, mix);
    mixRuns.push(await openLoop(api, RATE, SECONDS, mix));
    printLoad(`round ${round} read mix via nginx`, mixRuns.at(-1) as OpenLoopResult);
  }
  const baseline = pooled(baselineRuns);
  const measured = pooled(mixRuns);
  printLoad('all rounds, bare Fastify route', baseline);
  printLoad('all rounds, read mix via nginx', measured);

  // Capacity (closed loop) after the open-loop rounds: the mix's publishes leave a processing backlog.
  await settled(jsm, ns.nats.prefix);
  const bareCapacity = await closedLoop(bareClient, CONNECTIONS, CAPACITY_SECONDS, bareCall);
  const mixCapacity = await closedLoop(api, CONNECTIONS, CAPACITY_SECONDS, (i) => mix(1_000_000 + i));
  log(
    `capacity, closed loop, ${CONNECTIONS} connections, ${CAPACITY_SECONDS} s: bare ${bareCapacity.throughput.toFixed(0)} req/s ` +
      `(${bareCapacity.failed} failed), read mix ${mixCapacity.throughput.toFixed(1)} req/s (${mixCapacity.failed} failed)`,
  );

  // --- upload pipeline --------------------------------------------------------------------------------
  await settled(jsm, ns.nats.prefix);
  const photo = await twelveMegapixelPhoto();
  const author = users[1] as User; // second most followed
  const followerOfAuthor = users.find((u) => u.follows.has(author.id)) as User;
  log(
    `upload pipeline (${elapsed()}): ${PHOTOS} photos of 12 MP (${(photo.length / 1e6).toFixed(1)} MB), ${PHOTOS_IN_FLIGHT} in flight, author with ${author.followers} followers`,
  );
  const pipeline = await uploadPipeline(api, author, followerOfAuthor, photo, PHOTOS, PHOTOS_IN_FLIGHT);
  log(
    `  pipeline: ${pipeline.publishedPerSecond.toFixed(2)} photos/s published; upload→published p50 ${ms(pipeline.uploadToPublished.p50)} p99 ${ms(pipeline.uploadToPublished.p99)}; upload→feed p50 ${ms(pipeline.uploadToFeed.p50)} p99 ${ms(pipeline.uploadToFeed.p99)}`,
  );
  const raw = await rawRendering(photo, Math.max(3, Math.ceil(PHOTOS / 3)));
  log(`  raw renderImage here: ${raw.perSecond.toFixed(2)} photos/s, p50 ${ms(raw.p50)} p99 ${ms(raw.p99)}`);

  const figures: BenchFigure[] = [
    {
      figure: `read mix ${MIX.join('/')} at ${RATE} req/s open loop, ${USERS} users, ${ROUNDS}×${SECONDS} s: throughput`,
      value: measured.throughput,
      unit: 'req/s',
      baseline: 'bare Fastify route, same rate',
      baselineValue: baseline.throughput,
      ratio: rateRatio(measured.throughput, baseline.throughput),
    },
    {
      figure: `read mix capacity, closed loop, ${CONNECTIONS} connections`,
      value: mixCapacity.throughput,
      unit: 'req/s',
      baseline: 'bare Fastify route, same',
      baselineValue: bareCapacity.throughput,
      ratio: rateRatio(mixCapacity.throughput, bareCapacity.throughput),
    },
    ...(['p50', 'p99', 'p999'] as const).map((p) => ({
      figure: `read mix latency ${p === 'p999' ? 'p99.9' : p}`,
      value: measured[p],
      unit: 'ms',
      baseline: 'bare Fastify route',
      baselineValue: baseline[p],
      ratio: latencyRatio(measured[p], baseline[p]),
    })),
    ...(
      [
        ['feed', 'GET /v1/feed p99 (in the mix)'],
        ['grid', 'profile grid p99 (in the mix)'],
        ['publish', 'publish, small JPEG, p99 (in the mix)'],
      ] as const
    ).map(([kind, figure]) => {
      const value = measured.byKind[kind]?.p99 ?? Number.NaN;
      return {
        figure,
        value,
        unit: 'ms',
        baseline: 'bare Fastify route p99',
        baselineValue: baseline.p99,
        ratio: latencyRatio(value, baseline.p99),
      };
    }),
    {
      figure: '12 MP upload → published, sustained',
      value: pipeline.publishedPerSecond,
      unit: 'photos/s',
      baseline: 'renderImage alone, 1 core',
      baselineValue: raw.perSecond,
      ratio: rateRatio(pipeline.publishedPerSecond, raw.perSecond),
    },
    {
      figure: 'upload → follower feed p50',
      value: pipeline.uploadToFeed.p50,
      unit: 'ms',
      baseline: 'renderImage alone p50',
      baselineValue: raw.p50,
      ratio: latencyRatio(pipeline.uploadToFeed.p50, raw.p50),
    },
    {
      figure: 'upload → follower feed p99',
      value: pipeline.uploadToFeed.p99,
      unit: 'ms',
      baseline: 'renderImage alone p99',
      baselineValue: raw.p99,
      ratio: latencyRatio(pipeline.uploadToFeed.p99, raw.p99),
    },
  ];
  reportFigures('system', 'npm run bench -- system', figures);
  log(`done in ${elapsed()}`);
} finally {
  await cleanUp();
}
