/**
 * Notification benchmark: events/s processed and event-to-SSE latency (p50/p99) with BENCH_STREAMS (1,000)
 * Server-Sent Events streams connected, next to raw baselines measured in the same run, over alternating
 * rounds (PITFALLS: absolute numbers drift here, ratios much less):
 *
 *   service   like.created published on JetStream → activity consumer → notification stored (inbox, Postgres,
 *             outbox) → relay → notification.created → core NATS fan-out → item loaded → SSE frame parsed by
 *             the client holding the recipient's stream (one of the 1,000)
 *   raw       latency: core NATS publish → subscriber (the fan-out hop alone);
 *             rate: JetStream publish (256 in flight) → pull consumer → ack (the event hop alone)
 *
 * Each round has a paced phase (BENCH_RATE events/s for 2 s: latency at moderate load, measured from the
 * moment each event was due) and a saturated phase (BENCH_EVENTS events, 256 in flight: events/s and
 * latency under load). The service runs in this process on its own namespace (databases, Redis prefix,
 * streams), removed at the end.
 *
 *   node --import tsx bench/notification/run.ts
 *
 * Env: BENCH_STREAMS (1000), BENCH_EVENTS (6000: with 2,000 the raw phase lasted ~0.15 s and its rate, the ratio's divisor, swung 9-18k), BENCH_RATE (200), BENCH_ROUNDS (3), BENCH_PG_POOL_MAX (8),
 * BENCH_CONCURRENCY (8, the consumer's); infrastructure as for the tests (TEST_POSTGRES_URL / TEST_REDIS_URL /
 * TEST_NATS_URL or the local defaults).
 */
import { Agent, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createPublisher, natsSubjectFor, streamNameFor } from '@instantpost/bus';
import { makeTestKeys, openTestService } from '@instantpost/chassis/testing';
import { createEvent } from '@instantpost/events';
import { encode, formatId } from '@instantpost/ids';
import { buildApp, configSpec, migrations } from '@instantpost/notification/harness';
import { openNamespace, stopTestInfra } from '@instantpost/testing';
import { AckPolicy, connect } from 'nats';
import { latencyRatio, rateRatio, reportFigures } from '../report.ts';
import { median, percentile } from '../stats.ts';

const env = process.env;
const STREAMS = Number(env.BENCH_STREAMS ?? 1000);
const EVENTS = Number(env.BENCH_EVENTS ?? 6000);
const RATE = Number(env.BENCH_RATE ?? 200);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const PACED_SECONDS = 2;
const WINDOW = 256;
const TIMEOUT_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Phase {
  rate: number;
  p50: number;
  p99: number;
}

/** Runs `send(i)` for i < count with at most WINDOW in flight. */
async function closedLoop(count: number, send: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(WINDOW, count) }, async () => {
      while (next < count) await send(next++);
    }),
  );
}

/** Schedules `send(i, due)` at RATE/s for PACED_SECONDS, each on its due time (open loop). */
async function openLoop(send: (i: number, due: number) => void): Promise<number> {
  const count = Math.round(RATE * PACED_SECONDS);
  const start = performance.now() + 20;
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    while (performance.now() < due) {} // the last fraction of a millisecond: never send early
    send(i, due);
  }
  return count;
}

/** Waits until `arrived()` reaches `count`. */
async function until(arrived: () => number, count: number, what: string): Promise<number> {
  const deadline = performance.now() + TIMEOUT_MS;
  while (arrived() < count) {
    if (performance.now() > deadline) throw new Error(`timed out: ${arrived()}/${count} ${what}`);
    await sleep(2);
  }
  return performance.now();
}

const ns = await openNamespace({ databases: 2 });
const keys = makeTestKeys();
const svc = await openTestService({
  service: 'notification',
  ns,
  keys,
  spec: configSpec,
  migrations,
  build: buildApp,
  env: {
    PG_POOL_MAX: env.BENCH_PG_POOL_MAX ?? '8',
    NOTIFICATION_CONSUMER_CONCURRENCY: env.BENCH_CONCURRENCY ?? '8',
    LOG_LEVEL: 'error',
  },
});
await svc.app.listen({ port: 0, host: '127.0.0.1' });
const base = `http://127.0.0.1:${(svc.app.server.address() as AddressInfo).port}`;
// connected as the services are (libs/chassis natsConnectOptions): no stack captured per request
const nc = await connect({ servers: ns.nats.servers, noAsyncTraces: true });
const publisher = createPublisher({ nc, prefix: ns.nats.prefix });
const source = { source: '/instantpost/metadata' };

let seq = 0;
const newId = (shard: number) => formatId(encode({ time: Date.now(), shard, sequence: seq++ % 1024 }));
const recipients = Array.from({ length: STREAMS }, (_, i) => newId(i % 16));
const actors = Array.from({ length: 50 }, (_, i) => newId((i * 7) % 16));
await closedLoop(recipients.length + actors.length, async (i) => {
  const userId = (recipients[i] ?? actors[i - recipients.length]) as string;
  await publisher.publish(
    createEvent(
      'account.created',
      { userId, username: `u${i}`, displayName: `User ${i}`, isPrivate: false },
      source,
    ),
  );
});

// The streams: one per recipient. Each like is of a new post, so every event makes one new item and one
// SSE frame; the frame's postId finds when its event was due.
const dueAt = new Map<string, number>();
const latencies: number[] = [];
let received = 0;
const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
const sockets: { destroy(): void }[] = [];
await Promise.all(
  recipients.map(
    (userId) =>
      new Promise<void>((resolve, reject) => {
        const token = keys.tokenFor({ id: userId, username: 'u' });
        const req = request(
          `${base}/v1/notifications/stream?access_token=${token}`,
          { agent },
          (res: IncomingMessage) => {
            if (res.statusCode !== 200) reject(new Error(`stream: ${res.statusCode}`));
            res.setEncoding('utf8');
            let buffer = '';
            res.on('data', (chunk: string) => {
              buffer += chunk;
              let end = buffer.indexOf('\n\n');
              while (end >= 0) {
                const block = buffer.slice(0, end);
                buffer = buffer.slice(end + 2);
                const data = block.split('\n').find((l) => l.startsWith('data: '));
                if (data) {
                  const postId = (JSON.parse(data.slice(6)) as { postId?: string }).postId;
                  const due = postId === undefined ? undefined : dueAt.get(postId);
                  if (due !== undefined) {
                    latencies.push(performance.now() - due);
                    dueAt.delete(postId as string);
                  }
                  received++;
                }
                end = buffer.indexOf('\n\n');
              }
            });
            resolve();
          },
        );
        req.on('error', reject);
        sockets.push(req);
        req.end();
      }),
  ),
);
await sleep(500); // every stream attached to the hub
// Let the account events settle before measuring.
const jsm = await nc.jetstreamManager();
for (;;) {
  const info = await jsm.consumers.info(streamNameFor('SOCIAL', ns.nats.prefix), 'notification-activity');
  if (info.num_pending === 0 && info.num_ack_pending === 0) break;
  await sleep(50);
}

let post = 0;
function likeFor(i: number) {
  const postId = newId(post % 16);
  post++;
  return {
    postId,
    event: createEvent(
      'like.created',
      {
        postId,
        postAuthorId: recipients[i % recipients.length] as string,
        userId: actors[i % actors.length] as string,
      },
      source,
    ),
  };
}

async function servicePaced(): Promise<Phase> {
  latencies.length = 0;
  const start = received;
  const count = await openLoop((i, due) => {
    const { postId, event } = likeFor(i);
    dueAt.set(postId, due);
    void publisher.publish(event);
  });
  await until(() => received - start, count, 'paced SSE frames');
  const sorted = [...latencies].sort((a, b) => a - b);
  return { rate: RATE, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

async function serviceSaturated(): Promise<Phase> {
  latencies.length = 0;
  const start = received;
  const t0 = performance.now();
  await closedLoop(EVENTS, async (i) => {
    const { postId, event } = likeFor(i);
    dueAt.set(postId, performance.now());
    await publisher.publish(event);
  });
  const t1 = await until(() => received - start, EVENTS, 'saturated SSE frames');
  const sorted = [...latencies].sort((a, b) => a - b);
  return { rate: (EVENTS * 1000) / (t1 - t0), p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

// Raw latency: the fan-out hop alone (core NATS publish → subscriber), paced the same way.
const rawSubject = `${ns.nats.prefix}.rawbench.core`;
async function rawPaced(): Promise<Phase> {
  const raw: number[] = [];
  const sub = nc.subscribe(rawSubject);
  const due = new Map<number, number>();
  void (async () => {
    for await (const msg of sub) {
      const i = Number(new TextDecoder().decode(msg.data));
      raw.push(performance.now() - (due.get(i) as number));
    }
  })();
  await nc.flush();
  const count = await openLoop((i, at) => {
    due.set(i, at);
    nc.publish(rawSubject, new TextEncoder().encode(String(i)));
  });
  await until(() => raw.length, count, 'raw messages');
  sub.unsubscribe();
  const sorted = raw.sort((a, b) => a - b);
  return { rate: RATE, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

// Raw rate: the event hop alone (JetStream publish, 256 in flight → pull consumer → ack).
const rawStream = streamNameFor('NOTIFICATION', ns.nats.prefix);
const rawJsSubject = natsSubjectFor('notification.rawbench', ns.nats.prefix);
let rawRound = 0;
async function rawSaturated(): Promise<Phase> {
  const durable = `rawbench${rawRound++}`;
  await jsm.consumers.add(rawStream, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    filter_subject: rawJsSubject,
    deliver_policy: 'new' as never,
  });
  const js = nc.jetstream();
  const consumer = await js.consumers.get(rawStream, durable);
  let acked = 0;
  const messages = await consumer.consume({ max_messages: WINDOW });
  void (async () => {
    for await (const m of messages) {
      m.ack();
      acked++;
    }
  })();
  const t0 = performance.now();
  await closedLoop(EVENTS, async (i) => {
    await js.publish(rawJsSubject, new TextEncoder().encode(String(i)));
  });
  const t1 = await until(() => acked, EVENTS, 'raw JetStream acks');
  messages.stop();
  await jsm.consumers.delete(rawStream, durable);
  return { rate: (EVENTS * 1000) / (t1 - t0), p50: Number.NaN, p99: Number.NaN };
}

// Warm-up (JIT, pools, caches), not counted.
await rawPaced();
await servicePaced();

const results: { raw: Phase; paced: Phase; rawJs: Phase; saturated: Phase }[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  const raw = await rawPaced();
  const paced = await servicePaced();
  const rawJs = await rawSaturated();
  const saturated = await serviceSaturated();
  results.push({ raw, paced, rawJs, saturated });
  console.log(
    `round ${round}: paced ${RATE}/s p50 ${paced.p50.toFixed(1)} ms p99 ${paced.p99.toFixed(1)} ms ` +
      `(raw NATS p50 ${raw.p50.toFixed(2)} p99 ${raw.p99.toFixed(2)}) · saturated ${Math.round(saturated.rate)} events/s ` +
      `p50 ${saturated.p50.toFixed(0)} ms p99 ${saturated.p99.toFixed(0)} ms (raw JetStream ${Math.round(rawJs.rate)} msgs/s)`,
  );
}

const med = (pick: (r: (typeof results)[number]) => number) => median(results.map(pick));
const figures = [
  {
    figure: `events/s to SSE, ${STREAMS} streams connected`,
    value: med((r) => r.saturated.rate),
    unit: 'events/s',
    baseline: 'raw JetStream publish→consume+ack',
    baselineValue: med((r) => r.rawJs.rate),
    ratio: med((r) => rateRatio(r.saturated.rate, r.rawJs.rate)),
  },
  {
    figure: `event-to-SSE latency p50 at ${RATE}/s, ${STREAMS} streams`,
    value: med((r) => r.paced.p50),
    unit: 'ms',
    baseline: 'raw core NATS publish→subscribe p50',
    baselineValue: med((r) => r.raw.p50),
    ratio: med((r) => latencyRatio(r.paced.p50, r.raw.p50)),
  },
  {
    figure: `event-to-SSE latency p99 at ${RATE}/s, ${STREAMS} streams`,
    value: med((r) => r.paced.p99),
    unit: 'ms',
    baseline: 'raw core NATS publish→subscribe p99',
    baselineValue: med((r) => r.raw.p99),
    ratio: med((r) => latencyRatio(r.paced.p99, r.raw.p99)),
  },
];
reportFigures(
  'notification',
  'node --import tsx bench/notification/run.ts',
  figures,
  "Issue 16's goal: notifications to SSE ≥ 0.3 of raw JetStream publish→consume+ack in the same run.",
);

for (const socket of sockets) socket.destroy();
agent.destroy();
await svc.close();
await nc.drain();
await ns.close();
await stopTestInfra();
