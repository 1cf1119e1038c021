/**
 * Feed benchmark, every figure next to a raw baseline measured in the same run, over alternating rounds
 * (PITFALLS: absolute numbers drift here, ratios much less):
 *
 *   1. fan-out of one post to 10,000 active followers' timelines (the service's projector: Postgres keyset
 *      pages of followers + one Lua call per page that adds and trims), in timelines/s, next to one raw
 *      ioredis pipeline of 10,000 ZADDs;
 *   2. post-to-feed latency p50/p99 for a 1,000-follower author, through NATS (publish post.published →
 *      the feed-fanout consumer → the last follower's timeline holds it), next to one raw pipeline of
 *      1,000 ZADDs;
 *   3. one post of a 50,000-follower author through NATS with FEED_ACK_WAIT_MS=1000: handled as one
 *      message (no redelivery) thanks to per-batch heartbeats; its duration and timelines/s;
 *   4. GET /v1/feed (limit 20, 20 followees) req/s and p50/p99 at 50 keep-alive connections, next to a bare
 *      Fastify route in the same process; the load generator is a separate process (bench/feed/load.ts),
 *      pinned with `taskset -c 1` when taskset exists.
 *
 *   npx tsx bench/feed/run.ts          (or: node --import tsx bench/feed/run.ts on Node 22+)
 *
 * Env: BENCH_ROUNDS (3), BENCH_SECONDS (3, per HTTP phase), BENCH_LATENCY_POSTS (40), BENCH_ONLY=get (run
 * only part 4, e.g. under `node --cpu-prof --import tsx bench/feed/run.ts` to profile the route).
 * Uses the local Postgres/Redis/NATS through @instantpost/testing (own databases and prefixes, removed after).
 */
import { spawn, spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createPublisher, streamNameFor } from '@instantpost/bus';
import { makeTestKeys, openTestService } from '@instantpost/chassis/testing';
import { createEvent, type EventData, type EventSubject } from '@instantpost/events';
import {
  buildApp,
  configSpec,
  createFeedDomain,
  encodeMember,
  keys,
  migrations,
} from '@instantpost/feed/harness';
import { createIdGenerator, type IdGenerator, shardOf } from '@instantpost/ids';
import { openNamespace, stopTestInfra } from '@instantpost/testing';
import Fastify from 'fastify';
import { type BenchFigure, latencyRatio, rateRatio, reportFigures } from '../report.ts';
import { median, percentile } from '../stats.ts';

const env = process.env;
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(env.BENCH_SECONDS ?? 3);
const LATENCY_POSTS = Number(env.BENCH_LATENCY_POSTS ?? 40);
const CONNECTIONS = 50;
const ONLY_GET = env.BENCH_ONLY === 'get';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => process.stdout.write(`${line}\n`);

const ns = await openNamespace({ databases: 2 });
const testKeys = makeTestKeys();
const feed = await openTestService({
  service: 'feed',
  ns,
  keys: testKeys,
  spec: configSpec,
  migrations,
  build: buildApp,
  env: {
    PG_POOL_MAX: '4',
    LOG_LEVEL: 'error',
    FEED_BIG_ACCOUNT_FOLLOWERS: '1000000',
    FEED_ACK_WAIT_MS: '1000',
  },
});
const { redis, shards, nc, jsm } = feed.infra;
const domain = createFeedDomain({
  shards,
  redis,
  redisPrefix: feed.config.redisPrefix,
  settings: feed.config,
});
const publisher = createPublisher({ nc, prefix: ns.nats.prefix });
const generators = new Map<number, IdGenerator>();
const newId = (shard: number) => {
  let g = generators.get(shard);
  if (!g) {
    g = createIdGenerator(shard);
    generators.set(shard, g);
  }
  return g.next().toString();
};
let userCount = 0;
const newUserId = () => newId(userCount++ % 16);

async function publish<S extends EventSubject>(subject: S, data: EventData<S>): Promise<void> {
  await publisher.publish(createEvent(subject, data, { source: '/instantpost/metadata' }));
}

function postData(authorId: string): EventData<'post.published'> {
  const postId = newId(shardOf(authorId));
  return {
    postId,
    mediaId: postId,
    authorId,
    createdAt: new Date().toISOString(),
    caption: 'A long table set for tea in a garden #wonderland',
    hashtags: ['wonderland'],
    mentions: [],
    altText: 'tea',
    media: {
      width: 3024,
      height: 3780,
      blurhash: 'LEHV6nWB2yk8pyo0adR*.7kCMdnj',
      renditions: ['1080', '640', '320'].flatMap((name) =>
        (['jpeg', 'webp'] as const).map((format) => ({
          name,
          width: Number(name),
          height: Number(name),
          format,
          key: `media/${postId}/${name}.${format === 'jpeg' ? 'jpg' : 'webp'}`,
        })),
      ),
    },
  };
}

async function settled(): Promise<void> {
  const stream = streamNameFor('SOCIAL', ns.nats.prefix);
  for (;;) {
    let busy = false;
    for (const name of ['feed-fanout', 'feed-projector']) {
      const info = await jsm.consumers.info(stream, name);
      busy ||= info.num_pending > 0 || info.num_ack_pending > 0;
    }
    if (!busy) return;
    await sleep(20);
  }
}

/** An author with `n` approved, active followers, written straight into the projection and Redis. */
async function seedAuthor(n: number): Promise<{ authorId: string; followers: string[] }> {
  const authorId = newUserId();
  const followers = Array.from({ length: n }, newUserId).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  const s = shards.forId(authorId);
  for (let i = 0; i < followers.length; i += 10_000) {
    const chunk = followers.slice(i, i + 10_000);
    await s.sql`INSERT INTO ${s.table('followers')} (followee_id, follower_id, state, at)
                SELECT ${authorId}, f, 'following', now() FROM unnest(${chunk}::bigint[]) f`;
  }
  await s.sql`INSERT INTO ${s.table('follower_counts')} (user_id, followers) VALUES (${authorId}, ${n})`;
  for (let i = 0; i < followers.length; i += 10_000) {
    const pipeline = redis.pipeline();
    for (const f of followers.slice(i, i + 10_000)) pipeline.zadd(keys.timeline(f), 0, '0');
    await pipeline.exec();
  }
  return { authorId, followers };
}

async function rawZadd(followers: string[], member: string): Promise<number> {
  const t0 = performance.now();
  const pipeline = redis.pipeline();
  for (const f of followers) pipeline.zadd(keys.timeline(f), 0, member);
  await pipeline.exec();
  return performance.now() - t0;
}

const figures: BenchFigure[] = [];

// 1. fan-out rate, 10,000 followers
if (!ONLY_GET) {
  const { authorId, followers } = await seedAuthor(10_000);
  const feedRates: number[] = [];
  const rawRates: number[] = [];
  for (let round = 0; round < ROUNDS + 1; round++) {
    const t0 = performance.now();
    const written = await domain.projector.postPublished(postData(authorId), () => {});
    const feedMs = performance.now() - t0;
    const rawMs = await rawZadd(followers, encodeMember({ postId: newId(0), authorId }));
    if (written !== followers.length)
      throw new Error(`fan-out wrote ${written} of ${followers.length} timelines`);
    if (round === 0) continue; // warm-up
    feedRates.push(written / (feedMs / 1000));
    rawRates.push(followers.length / (rawMs / 1000));
    log(`fan-out round ${round}: feed ${feedMs.toFixed(0)} ms, raw ZADD pipeline ${rawMs.toFixed(0)} ms`);
  }
  const value = median(feedRates);
  const baseline = median(rawRates);
  figures.push({
    figure: 'fan-out, 10,000 followers',
    value,
    unit: 'timelines/s',
    baseline: 'raw pipelined ZADD',
    baselineValue: baseline,
    ratio: rateRatio(value, baseline),
  });
}

// 2. post-to-feed latency, 1,000 followers, through NATS
if (!ONLY_GET) {
  const { authorId, followers } = await seedAuthor(1000);
  const last = followers.at(-1) as string;
  const feedMs: number[] = [];
  const rawMs: number[] = [];
  for (let i = 0; i < LATENCY_POSTS; i++) {
    const data = postData(authorId);
    const member = encodeMember({ postId: data.postId, authorId });
    const t0 = performance.now();
    await publish('post.published', data);
    while ((await redis.zscore(keys.timeline(last), member)) === null) await sleep(1);
    feedMs.push(performance.now() - t0);
    rawMs.push(await rawZadd(followers, encodeMember({ postId: newId(0), authorId })));
  }
  for (const q of [0.5, 0.99] as const) {
    const value = percentile(feedMs, q * 100);
    const baseline = percentile(rawMs, q * 100);
    figures.push({
      figure: `post-to-feed latency p${q * 100}, 1,000 followers (NATS)`,
      value,
      unit: 'ms',
      baseline: 'raw pipelined ZADD ×1,000',
      baselineValue: baseline,
      ratio: latencyRatio(value, baseline),
    });
  }
}

// 3. a 50,000-follower author: one message, one delivery, heartbeats on a 1 s ack wait
if (!ONLY_GET) {
  const { authorId, followers } = await seedAuthor(50_000);
  const last = followers.at(-1) as string;
  const data = postData(authorId);
  const member = encodeMember({ postId: data.postId, authorId });
  const t0 = performance.now();
  await publish('post.published', data);
  while ((await redis.zscore(keys.timeline(last), member)) === null) await sleep(5);
  const ms = performance.now() - t0;
  await settled();
  const info = await jsm.consumers.info(streamNameFor('SOCIAL', ns.nats.prefix), 'feed-fanout');
  const rawMs = await rawZadd(followers, encodeMember({ postId: newId(0), authorId }));
  log(
    `50,000 followers: ${ms.toFixed(0)} ms with ack wait 1000 ms; redelivered ${info.num_redelivered}, ` +
      `ack pending ${info.num_ack_pending} (one healthy message)`,
  );
  figures.push({
    figure: 'fan-out, 50,000 followers via NATS (ack wait 1 s)',
    value: 50_000 / (ms / 1000),
    unit: 'timelines/s',
    baseline: 'raw pipelined ZADD',
    baselineValue: 50_000 / (rawMs / 1000),
    ratio: rateRatio(50_000 / (ms / 1000), 50_000 / (rawMs / 1000)),
  });
  if (info.num_redelivered > 0) log('WARNING: the 50,000-follower post was redelivered');
}

// 4. GET /v1/feed vs a bare Fastify route
{
  const reader = newUserId();
  await publish('account.created', {
    userId: reader,
    username: 'reader',
    displayName: 'Reader',
    isPrivate: false,
  });
  for (let a = 0; a < 20; a++) {
    const authorId = newUserId();
    await publish('account.created', {
      userId: authorId,
      username: `author${a}`,
      displayName: `A ${a}`,
      isPrivate: false,
    });
    await publish('follow.created', { followerId: reader, followeeId: authorId, state: 'following' });
    for (let p = 0; p < 10; p++) await publish('post.published', postData(authorId));
  }
  await settled();
  const token = testKeys.tokenFor({ id: reader, username: 'reader' });
  const address = await feed.app.listen({ port: 0, host: '127.0.0.1' });
  const bare = Fastify();
  bare.get('/hello', async () => ({ hello: 'world' }));
  const bareAddress = await bare.listen({ port: 0, host: '127.0.0.1' });
  const check = await fetch(`${address}/v1/feed`, { headers: { authorization: `Bearer ${token}` } });
  const page = await check.text();
  const items = (JSON.parse(page) as { items: unknown[] }).items.length;
  if (check.status !== 200 || items !== 20)
    throw new Error(`GET /v1/feed answered ${check.status} with ${items} items`);
  log(`GET /v1/feed: ${items} items, ${Buffer.byteLength(page)} bytes a page`);

  const loadScript = fileURLToPath(new URL('./load.ts', import.meta.url));
  const pin = spawnSync('taskset', ['-V']).status === 0;
  const load = (url: string, bearer: string) =>
    new Promise<{ rps: number; p50: number; p99: number; errors: number }>((resolve, reject) => {
      const args = ['--import', 'tsx', loadScript, url, bearer, String(CONNECTIONS), String(SECONDS)];
      const child = pin
        ? spawn('taskset', ['-c', '1', process.execPath, ...args])
        : spawn(process.execPath, args);
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.on('exit', (code) =>
        code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load exited ${code}`)),
      );
    });
  const feedRuns: { rps: number; p50: number; p99: number }[] = [];
  const bareRuns: { rps: number; p50: number; p99: number }[] = [];
  await load(`${address}/v1/feed`, token); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    const f = await load(`${address}/v1/feed`, token);
    const b = await load(`${bareAddress}/hello`, '-');
    if (f.errors > 0) throw new Error(`${f.errors} failed feed requests`);
    feedRuns.push(f);
    bareRuns.push(b);
    log(
      `GET round ${round + 1}: feed ${f.rps.toFixed(0)} req/s (p99 ${f.p99.toFixed(1)} ms), bare ${b.rps.toFixed(0)} req/s`,
    );
  }
  const m = (runs: typeof feedRuns, k: 'rps' | 'p50' | 'p99') => median(runs.map((r) => r[k]));
  figures.push(
    {
      figure: `GET /v1/feed, ${CONNECTIONS} connections`,
      value: m(feedRuns, 'rps'),
      unit: 'req/s',
      baseline: 'bare Fastify route',
      baselineValue: m(bareRuns, 'rps'),
      ratio: rateRatio(m(feedRuns, 'rps'), m(bareRuns, 'rps')),
    },
    {
      figure: 'GET /v1/feed p50',
      value: m(feedRuns, 'p50'),
      unit: 'ms',
      baseline: 'bare Fastify route',
      baselineValue: m(bareRuns, 'p50'),
      ratio: latencyRatio(m(feedRuns, 'p50'), m(bareRuns, 'p50')),
    },
    {
      figure: 'GET /v1/feed p99',
      value: m(feedRuns, 'p99'),
      unit: 'ms',
      baseline: 'bare Fastify route',
      baselineValue: m(bareRuns, 'p99'),
      ratio: latencyRatio(m(feedRuns, 'p99'), m(bareRuns, 'p99')),
    },
  );
  await bare.close();
}

reportFigures('feed', 'npx tsx bench/feed/run.ts', figures);
await feed.close();
await ns.close();
await stopTestInfra();
