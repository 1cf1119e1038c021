import { readFileSync } from 'node:fs';
import {
  busMigrations,
  createPublisher,
  enqueue,
  ensureStreams,
  type OutboxRelay,
  outboxStatus,
  startOutboxRelay,
  streamNameFor,
} from '@instantpost/bus';
import { type AnyCloudEvent, createEvent, type EventData } from '@instantpost/events';
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
import { createLogger } from '@instantpost/telemetry';
import {
  openNamespace,
  type PrivatePostgres,
  startPrivatePostgres,
  stopTestInfra,
  type TestNamespace,
  waitFor,
} from '@instantpost/testing';
import test from 'ava';
import { connect, type NatsConnection } from 'nats';
import postgres from 'postgres';

// The relay as startEventWork wires it (event-work.ts): the shards' live views, regrouped on every change of
// the live map. A real move (copy, fence, flip, retire) on a private Postgres with wal_level=logical.

let pg: PrivatePostgres;
let ns: TestNamespace;
let nc: NatsConnection;

test.before(async () => {
  pg = await startPrivatePostgres({ settings: { wal_level: 'logical' } });
  ns = await openNamespace({ databases: 0 });
  nc = await connect({ servers: ns.nats.servers });
});
test.after.always(async () => {
  await nc?.drain();
  await ns?.close();
  await pg?.stop();
  await stopTestInfra();
});

const example = JSON.parse(
  readFileSync(new URL('../../../deploy/nats/examples/like.created.json', import.meta.url), 'utf8'),
) as { data: EventData<'like.created'> };
const likeEvent = () => createEvent('like.created', example.data, { source: '/test' }) as AnyCloudEvent;

/** Writes one event per transaction to `shard` until stopped; the ids of the acknowledged ones. */
function writer(shards: Shards, shard: number) {
  const ids: string[] = [];
  const errors: unknown[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const event = likeEvent();
      try {
        await inTransaction(shards.forShard(shard), (tx) => enqueue(tx.sql, tx.schema, event));
        ids.push(event.id);
      } catch (error) {
        errors.push(error);
      }
    }
  })();
  return {
    ids,
    errors,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** The Nats-Msg-Id of every message stored in the prefix's SOCIAL stream. */
async function storedIds(prefix: string): Promise<string[]> {
  const jsm = await nc.jetstreamManager();
  const stream = streamNameFor('SOCIAL', prefix);
  const info = await jsm.streams.info(stream);
  const ids: string[] = [];
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const stored = await jsm.streams.getMessage(stream, { seq });
    ids.push(stored.header.get('Nats-Msg-Id'));
  }
  return ids;
}

test('the outbox relay follows a moved shard: rows written on the new database are published, none twice, the old schema is not polled', async (t) => {
  const a = await pg.createDatabase('relay_a');
  const b = await pg.createDatabase('relay_b');
  const target = new URL(a);
  target.pathname = '/relay_c';
  const prefix = `${ns.nats.prefix}_rm`;
  const jsm = await nc.jetstreamManager();
  // a window longer than the test: a batch published on the old copy and refused its mark by the fence is
  // published again from the new one, and the stream must drop that copy
  await ensureStreams(jsm, { prefix, duplicateWindowMs: 120_000 });
  const store = await openShardMapStore(nc.jetstream(), { prefix });
  const seeded = await store.seed(parseShardMap(`0-1=${a};2-3=${b}`));
  const shards = createShards({
    service: 'upload',
    map: rangesOf(seeded),
    version: seeded.version,
    poolMax: 4,
  });
  await migrate({ shards, sources: [busMigrations] });
  const watcher = await store.watch((m) => void shards.apply(rangesOf(m), m.version));
  const views = shards.logicalShards.map((n) => shards.forShard(n));
  let relay: OutboxRelay | undefined;
  try {
    relay = await startOutboxRelay({
      shards: views,
      routingChanges: (listener) => shards.onChange(listener),
      publisher: createPublisher({ nc, prefix }),
      logger: createLogger({ service: 'relay-move-test', level: 'silent' }),
      pollIntervalMs: 200,
      retry: { initialMs: 20, maxMs: 200 },
    });
    const beside = writer(shards, 2); // a shard on the other database, never moved
    const moving = writer(shards, 1);
    await new Promise((r) => setTimeout(r, 300));
    const beforeMove = moving.ids.length;
    await moveShard({ store, shard: 1, target: target.toString(), retireGraceMs: 200 });
    t.is((await store.get())?.shards[1], target.toString(), 'the map routes shard 1 to the new database');
    const atFlip = moving.ids.length;
    await new Promise((r) => setTimeout(r, 500));
    await moving.stop();
    await beside.stop();
    t.deepEqual([...moving.errors, ...beside.errors], [], 'no write failed');
    t.true(beforeMove > 0 && moving.ids.length > atFlip, 'rows were written before and after the flip');

    const written = [...moving.ids, ...beside.ids];
    // Without a regroup the rows written on the new database after the flip would wait there until a restart.
    await relay.flush(10_000);
    const stored = await storedIds(prefix);
    t.is(new Set(stored).size, stored.length, 'no event stored twice');
    t.deepEqual([...stored].sort(), [...written].sort(), 'every acknowledged event published, nothing else');
    t.deepEqual(await outboxStatus(shards.forShard(1)), { unsent: 0, sent: moving.ids.length });

    // The old copy is gone: a loop still holding shard 1 on database a would fail on every poll.
    await new Promise((r) => setTimeout(r, 800));
    const lastError = relay.stats().lastError;
    t.false(
      /does not exist/.test(lastError ?? ''),
      `the relay does not poll the dropped schema (${lastError})`,
    );
    const old = postgres(a, { max: 1, onnotice: () => {} });
    try {
      const [row] = await old<
        { n: string }[]
      >`SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'upload_0001'`;
      t.is(row?.n, '0', 'the move retired the old schema');
    } finally {
      await old.end();
    }

    // A last write on the moved shard reaches the stream through the new database's LISTEN.
    const last = likeEvent();
    await inTransaction(shards.forShard(1), (tx) => enqueue(tx.sql, tx.schema, last));
    await waitFor('the last event published', async () => (await storedIds(prefix)).includes(last.id), {
      timeoutMs: 3000,
    });
  } finally {
    await relay?.stop();
    watcher.stop();
    await shards.close();
  }
});
