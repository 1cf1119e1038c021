/**
 * Bus benchmark: events/s and publish-to-handled latency (p50/p99) of three pipelines, measured in the
 * same run over several alternating rounds so the ratios survive this machine's drift (PITFALLS):
 *
 *   raw   nats.js only: js.publish (256 in flight) → pull consumer consume() → ack
 *   bus   createEvent + bus publisher (Nats-Msg-Id, traceparent, span) → consumer runner (validation, span) → ack
 *   full  transaction with enqueue (4 writers) → outbox relay (LISTEN) → consumer runner → handler writing its
 *         effect with the inbox in its own transaction → ack
 *   batch transactions of BENCH_EVENTS_PER_TX events (8 writers, so producing is not what limits: with 16 per
 *         transaction the writers' commits held the pipeline at 4-5k events/s, no backlog forming; the paced
 *         phase keeps 16) → outbox relay
 *         → consumer runner with handleBatch: inbox + effects of a whole batch in one transaction → acks
 *
 * Each round measures a saturated phase (closed loop, throughput and latency under load) and a paced phase
 * (fixed rate, latency at moderate load). Creates its own streams (random prefix) and database, removes both.
 *
 *   node --import tsx bench/bus/run.ts
 *
 * Env: NATS_URL (nats://127.0.0.1:4222), PG_URL (postgres://postgres@127.0.0.1:5432/postgres),
 * BENCH_ROUNDS (3), BENCH_SECONDS (2, per saturated phase), BENCH_RATE (300 events/s, paced phase),
 * BENCH_EVENTS_PER_TX (64, the batch pipeline's producer), BENCH_PIPELINES (e.g. `batch,bus`: those and raw;
 * default all).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  busMigrations,
  createPublisher,
  defineConsumer,
  enqueue,
  ensureStreams,
  handleOnce,
  type OutboxShard,
  startConsumer,
  startOutboxRelay,
  streamNameFor,
  withInboxBatch,
} from '@instantpost/bus';
import { createEvent } from '@instantpost/events';
import { createLogger, shutdownTelemetry, startTelemetry } from '@instantpost/telemetry';
import { AckPolicy, connect, type NatsConnection, headers as natsHeaders } from 'nats';
import postgres from 'postgres';
import { latencyRatio, rateRatio, reportFigures } from '../report.ts';
import { median } from '../stats.ts';

const env = process.env;
const NATS_URL = env.NATS_URL ?? 'nats://127.0.0.1:4222';
const PG_URL = env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(env.BENCH_SECONDS ?? 2);
const RATE = Number(env.BENCH_RATE ?? 300);
const EVENTS_PER_TX = Number(env.BENCH_EVENTS_PER_TX ?? 64);
const PACED_EVENTS_PER_TX = 16;
const PACED_SECONDS = 1.5;
const DRAIN_TIMEOUT_MS = 30_000;

const silent = createLogger({ service: 'bench', level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends events (`perSend` at a time); the pipeline calls `handled(id)` when its handler is done with one. */
interface Pipeline {
  readonly name: 'raw' | 'bus' | 'full' | 'batch';
  readonly window: number;
  readonly perSend: number;
  /** In the paced phase, if not `perSend`. */
  readonly pacedPerSend?: number;
  send(ids: readonly string[]): Promise<void>;
}

interface Figure {
  eventsPerSecond: number;
  p50: number;
  p99: number;
}

class Tracker {
  private readonly started = new Map<string, number>();
  private latencies: number[] = [];
  private handledCount = 0;
  lastHandledAt = 0;

  begin(id: string): void {
    this.started.set(id, performance.now());
  }

  handled(id: string): void {
    const t0 = this.started.get(id);
    if (t0 === undefined) return;
    this.started.delete(id);
    this.lastHandledAt = performance.now();
    this.latencies.push(this.lastHandledAt - t0);
    this.handledCount++;
  }

  get count(): number {
    return this.handledCount;
  }

  reset(): void {
    this.started.clear();
    this.latencies = [];
    this.handledCount = 0;
  }

  percentiles(): { p50: number; p99: number } {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number) =>
      sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
    return { p50: at(0.5), p99: at(0.99) };
  }
}

let sequence = 0;
const nextId = () => `bench-${process.pid}-${++sequence}`;

async function drained(tracker: Tracker, sent: number): Promise<void> {
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  while (tracker.count < sent) {
    if (Date.now() > deadline) throw new Error(`only ${tracker.count} of ${sent} events handled`);
    await sleep(5);
  }
}

/** Closed loop: `window` senders as fast as acks allow, for SECONDS; then waits for every event to be handled. */
async function saturated(pipeline: Pipeline, tracker: Tracker): Promise<Figure> {
  tracker.reset();
  const start = performance.now();
  const end = start + SECONDS * 1000;
  let sent = 0;
  await Promise.all(
    Array.from({ length: pipeline.window }, async () => {
      while (performance.now() < end) {
        const ids = Array.from({ length: pipeline.perSend }, nextId);
        for (const id of ids) tracker.begin(id);
        sent += ids.length;
        await pipeline.send(ids);
      }
    }),
  );
  await drained(tracker, sent);
  return { eventsPerSecond: sent / ((tracker.lastHandledAt - start) / 1000), ...tracker.percentiles() };
}

/** Open loop at RATE events/s for PACED_SECONDS: latency when the pipeline is not saturated. */
async function paced(pipeline: Pipeline, tracker: Tracker): Promise<Figure> {
  tracker.reset();
  const start = performance.now();
  const perSend = pipeline.pacedPerSend ?? pipeline.perSend;
  const sends = Math.round((RATE * PACED_SECONDS) / perSend);
  const total = sends * perSend;
  const pending: Promise<void>[] = [];
  for (let i = 0; i < sends; i++) {
    const due = start + (i * 1000 * perSend) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const ids = Array.from({ length: perSend }, nextId);
    for (const id of ids) tracker.begin(id);
    pending.push(pipeline.send(ids));
  }
  await Promise.all(pending);
  await drained(tracker, total);
  return { eventsPerSecond: total / ((tracker.lastHandledAt - start) / 1000), ...tracker.percentiles() };
}

const likeData = {
  postId: '3379190954632511489',
  postAuthorId: '3379187474022400001',
  userId: '3379188132511793154',
};

async function rawPipeline(nc: NatsConnection, prefix: string, tracker: Tracker) {
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  const stream = streamNameFor('SOCIAL', prefix);
  await jsm.consumers.add(stream, {
    durable_name: 'bench-raw',
    ack_policy: AckPolicy.Explicit,
    filter_subject: `${prefix}.like.created`,
    max_ack_pending: 10_000,
  });
  const messages = await (await js.consumers.get(stream, 'bench-raw')).consume({ max_messages: 256 });
  const loop = (async () => {
    for await (const m of messages) {
      tracker.handled(m.headers?.get('Nats-Msg-Id') ?? '');
      m.ack();
    }
  })();
  // the same bytes the bus would send, built without validation, spans or trace headers
  const template = JSON.stringify(createEvent('like.created', likeData, { source: '/bench', id: 'ID' }));
  const pipeline: Pipeline = {
    name: 'raw',
    window: 256,
    perSend: 1,
    send: async ([id = '']) => {
      const h = natsHeaders();
      h.set('Nats-Msg-Id', id);
      await js.publish(`${prefix}.like.created`, template.replace('"ID"', JSON.stringify(id)), {
        headers: h,
      });
    },
  };
  return {
    pipeline,
    stop: async () => {
      messages.stop();
      await loop;
    },
  };
}

async function busPipeline(nc: NatsConnection, prefix: string, tracker: Tracker) {
  const publisher = createPublisher({ nc, prefix });
  const runner = await startConsumer({
    nc,
    prefix,
    logger: silent,
    definition: defineConsumer({
      name: 'bench-bus',
      subjects: ['like.deleted'],
      handlers: {
        'like.deleted': async (event) => {
          tracker.handled(event.id);
        },
      },
      settings: { concurrency: 256, maxAckPending: 10_000 },
    }),
  });
  const pipeline: Pipeline = {
    name: 'bus',
    window: 256,
    perSend: 1,
    send: async ([id = '']) => {
      await publisher.publish(createEvent('like.deleted', likeData, { source: '/bench', id }));
    },
  };
  return { pipeline, stop: () => runner.stop() };
}

async function fullPipeline(nc: NatsConnection, prefix: string, databaseUrl: string, tracker: Tracker) {
  // pools sized on purpose (PITFALLS): writers 4, relay 2 (+1 listener), consumer 4 with 4 handlers
  const writers = postgres(databaseUrl, { max: 4, onnotice: () => {} });
  const relayPool = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  const consumerPool = postgres(databaseUrl, { max: 4, onnotice: () => {} });
  const schema = 'bench_0001';
  await migrate(writers, schema);
  const relay = await startOutboxRelay({
    shards: [{ schema, sql: relayPool }],
    publisher: createPublisher({ nc, prefix }),
    logger: silent,
  });
  const consumerShard: OutboxShard = { schema, sql: consumerPool };
  const runner = await startConsumer({
    nc,
    prefix,
    logger: silent,
    definition: defineConsumer({
      name: 'bench-full',
      subjects: ['comment.created'],
      handlers: {
        'comment.created': async (event, ctx) => {
          await handleOnce(consumerShard, ctx.consumer, event.id, async (tx) => {
            await tx`INSERT INTO ${tx(`${schema}.effects`)} (event_id) VALUES (${event.id})`;
          });
          tracker.handled(event.id);
        },
      },
      settings: { concurrency: 4, maxAckPending: 10_000 },
    }),
  });
  const data = { commentId: '1', postId: '2', postAuthorId: '3', userId: '4', text: 'bench', mentions: [] };
  const pipeline: Pipeline = {
    name: 'full',
    window: 4,
    perSend: 1,
    send: async ([id = '']) => {
      const event = createEvent('comment.created', data, { source: '/bench', id });
      await writers.begin((tx) => enqueue(tx, schema, event));
    },
  };
  return {
    pipeline,
    stop: async () => {
      await runner.stop();
      await relay.stop();
      await Promise.all([writers.end(), relayPool.end(), consumerPool.end()]);
    },
  };
}

async function batchPipeline(nc: NatsConnection, prefix: string, databaseUrl: string, tracker: Tracker) {
  const writers = postgres(databaseUrl, { max: 8, onnotice: () => {} });
  const relayPool = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  const consumerPool = postgres(databaseUrl, { max: 4, onnotice: () => {} });
  const schema = 'bench_0002';
  await migrate(writers, schema);
  const relay = await startOutboxRelay({
    shards: [{ schema, sql: relayPool }],
    publisher: createPublisher({ nc, prefix }),
    logger: silent,
  });
  const effects = `${schema}.effects`;
  const handleBatch = async (events: readonly { id: string }[], consumer: string) => {
    await consumerPool.begin(async (tx) => {
      const fresh = await withInboxBatch(
        tx,
        schema,
        consumer,
        events.map((e) => e.id),
      );
      if (fresh.size > 0) await tx`INSERT INTO ${tx(effects)} SELECT unnest(${[...fresh]}::text[])`;
    });
    for (const e of events) tracker.handled(e.id);
  };
  const runner = await startConsumer({
    nc,
    prefix,
    logger: silent,
    definition: defineConsumer({
      name: 'bench-batch',
      subjects: ['like.created'],
      handlers: { 'like.created': async (event, ctx) => handleBatch([event], ctx.consumer) },
      handleBatch: async (events, ctx) => handleBatch(events, ctx.consumer),
      settings: { concurrency: 4, batchSize: 256, maxAckPending: 10_000 },
    }),
  });
  const pipeline: Pipeline = {
    name: 'batch',
    window: 8,
    perSend: EVENTS_PER_TX,
    pacedPerSend: PACED_EVENTS_PER_TX,
    send: async (ids) => {
      const events = ids.map((id) => createEvent('like.created', likeData, { source: '/bench', id }));
      await writers.begin((tx) => enqueue(tx, schema, events));
    },
  };
  return {
    pipeline,
    stop: async () => {
      await runner.stop();
      await relay.stop();
      await Promise.all([writers.end(), relayPool.end(), consumerPool.end()]);
    },
  };
}

async function migrate(sql: postgres.Sql, schema: string): Promise<void> {
  await sql.unsafe(`CREATE SCHEMA ${schema}`);
  await sql.begin(async (tx) => {
    await tx.unsafe(`SET LOCAL search_path TO ${schema}`);
    for (const file of readdirSync(busMigrations.dir).sort()) {
      await tx.unsafe(readFileSync(join(busMigrations.dir, file), 'utf8'));
    }
    await tx.unsafe('CREATE TABLE effects (event_id text NOT NULL)');
  });
}

async function main(): Promise<void> {
  startTelemetry({ serviceName: 'bench-bus' }); // spans are created as in a service, never exported
  const tag = randomBytes(3).toString('hex');
  const prefix = `bench${tag}`;
  const database = `bench_bus_${tag}`;
  const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${database}`);
  const url = new URL(PG_URL);
  url.pathname = `/${database}`;
  // connected as the services are (libs/chassis natsConnectOptions): no stack captured per request
  const nc = await connect({ servers: NATS_URL, name: 'bench-bus', noAsyncTraces: true });
  const jsm = await nc.jetstreamManager();
  const stops: Array<() => Promise<void>> = [];
  const results = new Map<string, { saturated: Figure[]; paced: Figure[] }>();
  try {
    await ensureStreams(jsm, { prefix, maxAgeMs: 3_600_000 });
    const trackers = { raw: new Tracker(), bus: new Tracker(), full: new Tracker(), batch: new Tracker() };
    const raw = await rawPipeline(nc, prefix, trackers.raw);
    const bus = await busPipeline(nc, prefix, trackers.bus);
    const full = await fullPipeline(nc, prefix, url.toString(), trackers.full);
    const batch = await batchPipeline(nc, prefix, url.toString(), trackers.batch);
    stops.push(raw.stop, bus.stop, full.stop, batch.stop);
    const only = env.BENCH_PIPELINES?.split(',');
    const pipelines = [raw.pipeline, bus.pipeline, full.pipeline, batch.pipeline].filter(
      (p) => p.name === 'raw' || !only || only.includes(p.name),
    );

    // warm-up: JIT, connections, prepared statements
    for (const p of pipelines) await paced(p, trackers[p.name]);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const p of round % 2 ? pipelines : [...pipelines].reverse()) {
        const entry = results.get(p.name) ?? { saturated: [], paced: [] };
        entry.saturated.push(await saturated(p, trackers[p.name]));
        entry.paced.push(await paced(p, trackers[p.name]));
        results.set(p.name, entry);
        const s = entry.saturated.at(-1) as Figure;
        process.stderr.write(
          `round ${round} ${p.name.padEnd(4)} ${s.eventsPerSecond.toFixed(0).padStart(6)} ev/s  p50 ${s.p50.toFixed(1)} ms  p99 ${s.p99.toFixed(1)} ms\n`,
        );
      }
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    for await (const info of jsm.streams.list()) {
      if (info.config.name.startsWith(`${prefix.toUpperCase()}_`)) await jsm.streams.delete(info.config.name);
    }
    await nc.drain();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    await shutdownTelemetry();
  }

  const summary = (name: string) => {
    const r = results.get(name) as { saturated: Figure[]; paced: Figure[] };
    return {
      eventsPerSecond: median(r.saturated.map((f) => f.eventsPerSecond)),
      saturatedP50: median(r.saturated.map((f) => f.p50)),
      saturatedP99: median(r.saturated.map((f) => f.p99)),
      pacedP50: median(r.paced.map((f) => f.p50)),
      pacedP99: median(r.paced.map((f) => f.p99)),
    };
  };
  const raw = summary('raw');
  const rows = ['raw', 'bus', 'full', 'batch']
    .filter((name) => results.has(name))
    .map((name) => ({ name, ...summary(name) }));
  const f = (n: number, digits = 1) => n.toFixed(digits);
  const lines = [
    `bus benchmark: ${ROUNDS} rounds, ${SECONDS} s saturated + ${PACED_SECONDS} s at ${RATE} ev/s each; medians over rounds`,
    '',
    '| pipeline | events/s | × raw | p50 ms (sat.) | p99 ms (sat.) | p50 ms @rate | p99 ms @rate | p50 × raw @rate | p99 × raw @rate |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${f(r.eventsPerSecond, 0)} | ${f(r.eventsPerSecond / raw.eventsPerSecond, 2)} | ${f(r.saturatedP50)} | ${f(r.saturatedP99)} | ${f(r.pacedP50)} | ${f(r.pacedP99)} | ${f(r.pacedP50 / raw.pacedP50, 2)} | ${f(r.pacedP99 / raw.pacedP99, 2)} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  reportFigures(
    'bus',
    'npm run bench -- bus',
    rows
      .filter((r) => r.name !== 'raw')
      .flatMap((r) => [
        {
          figure: `${r.name} pipeline throughput`,
          value: r.eventsPerSecond,
          unit: 'events/s',
          baseline: 'raw nats.js',
          baselineValue: raw.eventsPerSecond,
          ratio: rateRatio(r.eventsPerSecond, raw.eventsPerSecond),
        },
        {
          figure: `${r.name} pipeline p99 at ${RATE} events/s`,
          value: r.pacedP99,
          unit: 'ms',
          baseline: 'raw nats.js',
          baselineValue: raw.pacedP99,
          ratio: latencyRatio(r.pacedP99, raw.pacedP99),
        },
      ]),
    [
      "Issue 16's goal: outbox → relay → consumer ≥ 10,000 events/s and ≥ 0.45 of raw nats.js in the same run",
      '(the batch pipeline is the one likes take: the relay publishes batches with many in flight, consumers',
      'commit a batch per transaction). Absolute figures follow the load of the machine; read the ratios.',
    ].join('\n'),
  );
}

await main();
