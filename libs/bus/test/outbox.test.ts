import { EventError } from '@instantpost/events';
import { startTcpProxy, stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import postgres from 'postgres';
import {
  createPublisher,
  enqueue,
  LOCAL_WAKE_SETTING,
  type OutboxShard,
  outboxChannel,
  outboxStatus,
  relayedHere,
  startOutboxRelay,
  streamNameFor,
  wakeRelaysHere,
} from '../src/index.ts';
import {
  type Fixture,
  migrateShard,
  openFixture,
  sampleEvent,
  silent,
  sleep,
  storedCount,
  waitFor,
} from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openFixture();
});
test.after.always(async () => {
  await fx?.close();
  await stopTestInfra();
});

async function sentAt(shard: OutboxShard, eventId: string): Promise<Date | null | undefined> {
  const [row] = await shard.sql.unsafe<{ sent_at: Date | null }[]>(
    `SELECT sent_at FROM "${shard.schema}".outbox WHERE event_id = $1`,
    [eventId],
  );
  return row?.sent_at;
}

test('events written in a transaction are published after commit, byte for byte, with Nats-Msg-Id', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const relay = await startOutboxRelay({
    shards: [shard],
    publisher: createPublisher({ nc: fx.nc, prefix }),
    logger: silent,
  });
  t.teardown(() => relay.stop());
  const event = sampleEvent('post.published');
  await shard.sql.begin(async (tx) => {
    await tx`INSERT INTO ${tx(`${shard.schema}.effects`)} (event_id, consumer) VALUES (${event.id}, 'state')`;
    await enqueue(tx, shard.schema, event);
  });
  await waitFor('marked sent', async () => (await sentAt(shard, event.id)) instanceof Date);
  const stored = await fx.jsm.streams.getMessage(streamNameFor('SOCIAL', prefix), { seq: 1 });
  t.is(stored.subject, `${prefix}.post.published`);
  t.deepEqual(JSON.parse(new TextDecoder().decode(stored.data)), event);
  t.is(stored.header.get('Nats-Msg-Id'), event.id);
  t.is(relay.stats().published, 1);
});

test('a rolled-back transaction publishes nothing', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const relay = await startOutboxRelay({
    shards: [shard],
    publisher: createPublisher({ nc: fx.nc, prefix }),
    logger: silent,
    pollIntervalMs: 100,
  });
  t.teardown(() => relay.stop());
  await t.throwsAsync(
    shard.sql.begin(async (tx) => {
      await enqueue(tx, shard.schema, [sampleEvent('like.created'), sampleEvent('like.deleted')]);
      throw new Error('the state change failed');
    }),
    { message: 'the state change failed' },
  );
  const kept = sampleEvent('like.created');
  await shard.sql.begin((tx) => enqueue(tx, shard.schema, kept));
  await relay.flush(5000);
  await sleep(300);
  t.is(await storedCount(fx.jsm, prefix, 'SOCIAL'), 1, 'only the committed event');
  t.deepEqual(await outboxStatus(shard), { unsent: 0, sent: 1 });
});

test('an invalid event fails the transaction instead of reaching a consumer', async (t) => {
  const shard = await fx.shard();
  const event = { ...sampleEvent('like.created'), data: { postId: 'nope' } } as never;
  await t.throwsAsync(
    shard.sql.begin((tx) => enqueue(tx, shard.schema, event)),
    { instanceOf: EventError },
  );
  t.deepEqual(await outboxStatus(shard), { unsent: 0, sent: 0 });
});

test('LISTEN/NOTIFY wakes the relay at once; rows left from before start are relayed too', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const backlog = sampleEvent('follow.created');
  await shard.sql.begin((tx) => enqueue(tx, shard.schema, backlog));
  const relay = await startOutboxRelay({
    shards: [shard],
    publisher: createPublisher({ nc: fx.nc, prefix }),
    logger: silent,
    pollIntervalMs: 60_000, // only a notification can wake it within the test
  });
  t.teardown(() => relay.stop());
  await waitFor('backlog relayed at start', async () => (await sentAt(shard, backlog.id)) instanceof Date);
  await sleep(100);
  const event = sampleEvent('follow.approved');
  await shard.sql.begin((tx) => enqueue(tx, shard.schema, event));
  // polling would take 60 s: relayed well within that, only the notification can have woken the relay
  await waitFor('relayed on notify', async () => (await sentAt(shard, event.id)) instanceof Date, {
    timeoutMs: 15_000,
  });
  t.pass();
});

test("a commit notifies its own service's channel only: a relay is not woken by other services' outboxes", async (t) => {
  const ours = await fx.shard(); // shard_NNNN: the service "shard"
  const theirs = { schema: `othersvc_${ours.schema.slice(-4)}`, sql: fx.sql };
  await migrateShard(fx.sql, theirs.schema);
  const heard = new Map<string, string[]>();
  const listeners = await Promise.all(
    [ours, theirs].map((shard) =>
      fx.sql.listen(outboxChannel(shard.schema), (schema) => {
        heard.set(shard.schema, [...(heard.get(shard.schema) ?? []), schema]);
      }),
    ),
  );
  t.teardown(() => Promise.all(listeners.map((l) => l.unlisten())));
  t.is(outboxChannel(ours.schema), 'instantpost_outbox_shard');
  t.is(outboxChannel(theirs.schema), 'instantpost_outbox_othersvc');
  await theirs.sql.begin((tx) => enqueue(tx, theirs.schema, sampleEvent('media.uploaded')));
  await ours.sql.begin((tx) => enqueue(tx, ours.schema, sampleEvent('media.uploaded')));
  await waitFor('both commits heard', async () => heard.has(ours.schema) && heard.has(theirs.schema));
  await sleep(200);
  // other tests of this file commit to their own shard_ schemas meanwhile: only ours is asserted there
  t.true(heard.get(ours.schema)?.includes(ours.schema));
  t.false(
    heard.get(ours.schema)?.includes(theirs.schema),
    "the other service's commit was not on our channel",
  );
  t.deepEqual(heard.get(theirs.schema), [theirs.schema]);
});

test('a write whose shard this process relays skips the NOTIFY and goes out when its writer wakes the relay; others still notify', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const heard: string[] = [];
  const listener = await fx.sql.listen(outboxChannel(shard.schema), (schema) => {
    if (schema === shard.schema) heard.push(schema);
  });
  t.teardown(() => listener.unlisten());
  t.false(relayedHere(shard.schema), 'no relay of it in this process yet');
  const relay = await startOutboxRelay({
    shards: [shard],
    publisher: createPublisher({ nc: fx.nc, prefix }),
    logger: silent,
    pollIntervalMs: 60_000, // only a notification or a direct wake can start a batch within the test
  });
  t.teardown(() => relay.stop());
  t.true(relayedHere(shard.schema));

  const local = sampleEvent('like.created');
  await shard.sql.begin(async (tx) => {
    await tx`SELECT set_config(${LOCAL_WAKE_SETTING}, 'local', true)`;
    await enqueue(tx, shard.schema, local);
  });
  await sleep(500);
  t.deepEqual(heard, [], 'no NOTIFY for the local write');
  t.is(await sentAt(shard, local.id), null, 'nothing woke the relay: the writer has not yet');
  wakeRelaysHere([shard.schema]);
  await waitFor('relayed once woken', async () => (await sentAt(shard, local.id)) instanceof Date);

  const other = sampleEvent('like.created'); // another process's write, or one that does not wake here
  await shard.sql.begin((tx) => enqueue(tx, shard.schema, other));
  await waitFor('relayed on its NOTIFY', async () => (await sentAt(shard, other.id)) instanceof Date);
  t.deepEqual(heard, [shard.schema]);

  await relay.stop();
  t.false(relayedHere(shard.schema), 'a stopped relay is no longer woken here');
});

test('the polling fallback relays without LISTEN', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const relay = await startOutboxRelay({
    shards: [shard],
    publisher: createPublisher({ nc: fx.nc, prefix }),
    logger: silent,
    listen: false,
    pollIntervalMs: 200,
  });
  t.teardown(() => relay.stop());
  await sleep(50);
  const event = sampleEvent('account.created');
  await shard.sql.begin((tx) => enqueue(tx, shard.schema, event));
  await waitFor('relayed by polling', async () => (await sentAt(shard, event.id)) instanceof Date, {
    timeoutMs: 3000,
  });
  t.pass();
});

test('with NATS unreachable, state changes commit and their events go out once NATS is back', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const natsPort = Number(
    new URL(fx.ns.nats.servers.startsWith('nats://') ? fx.ns.nats.servers : `nats://${fx.ns.nats.servers}`)
      .port || 4222,
  );
  const proxy = await startTcpProxy('127.0.0.1', natsPort);
  t.teardown(() => proxy.close());
  const relayNc = await fx.connect({
    servers: `127.0.0.1:${proxy.port}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  const relay = await startOutboxRelay({
    shards: [shard],
    publisher: createPublisher({ nc: relayNc, prefix, timeoutMs: 500 }),
    logger: silent,
    pollIntervalMs: 200,
    retry: { initialMs: 50, maxMs: 300 },
  });
  t.teardown(() => relay.stop());

  await proxy.cut();
  const events = [sampleEvent('comment.created'), sampleEvent('like.created'), sampleEvent('post.deleted')];
  for (const event of events) {
    await shard.sql.begin(async (tx) => {
      await tx`INSERT INTO ${tx(`${shard.schema}.effects`)} (event_id, consumer) VALUES (${event.id}, 'state')`;
      await enqueue(tx, shard.schema, event);
    });
  }
  await waitFor('publishes fail while NATS is away', () => relay.stats().failed > 0, { timeoutMs: 5000 });
  t.deepEqual(await outboxStatus(shard), { unsent: 3, sent: 0 }, 'events wait in the outbox');
  t.is(await storedCount(fx.jsm, prefix, 'SOCIAL'), 0);

  await proxy.restore();
  await relay.flush(10_000);
  await sleep(300); // anything the client buffered during the outage is flushed by now
  t.is(await storedCount(fx.jsm, prefix, 'SOCIAL'), 3, 'each event stored once');
  const [row] = await shard.sql.unsafe<{ attempts: number; last_error: string }[]>(
    `SELECT attempts, last_error FROM "${shard.schema}".outbox ORDER BY id LIMIT 1`,
  );
  t.true((row?.attempts ?? 0) > 0, 'failed attempts are recorded on the row');
  t.truthy(row?.last_error);
});

test('several relays at once (replicas) publish every row exactly once', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const otherPool = postgres(fx.databaseUrl, { max: 2, onnotice: () => {} });
  t.teardown(() => otherPool.end());
  const replicas = await Promise.all(
    [fx.sql, otherPool, fx.sql].map((sql) =>
      startOutboxRelay({
        shards: [{ schema: shard.schema, sql }],
        publisher: createPublisher({ nc: fx.nc, prefix }),
        logger: silent,
        batchSize: 10,
      }),
    ),
  );
  t.teardown(() => Promise.all(replicas.map((r) => r.stop())));
  const total = 300;
  for (let i = 0; i < total; i += 30) {
    await shard.sql.begin((tx) =>
      enqueue(
        tx,
        shard.schema,
        Array.from({ length: 30 }, () => sampleEvent('like.created')),
      ),
    );
  }
  await replicas[0]?.flush(15_000);
  const published = replicas.map((r) => r.stats().published);
  t.is(
    published.reduce((a, b) => a + b, 0),
    total,
    `no row published twice (${published.join(' + ')})`,
  );
  t.is(
    replicas.reduce((a, r) => a + r.stats().duplicates, 0),
    0,
  );
  t.is(await storedCount(fx.jsm, prefix, 'SOCIAL'), total);
});

// serial: ava runs it before the concurrent tests, so their listeners are not counted
test.serial('one relay serves shards on several databases, one loop and one listener per pool', async (t) => {
  const prefix = await fx.isolate();
  const secondUrl = await fx.ns.postgres.createDatabase('second');
  const second = postgres(secondUrl, { max: 2, onnotice: () => {} });
  t.teardown(() => second.end());
  const shards = [await fx.shard(), await fx.shard(), await fx.shard(second), await fx.shard(second)];
  const relay = await startOutboxRelay({
    shards,
    publisher: createPublisher({ nc: fx.nc, prefix }),
    logger: silent,
    pollIntervalMs: 60_000,
  });
  t.teardown(() => relay.stop());
  const listeners = await fx.sql<{ datname: string; n: string }[]>`
    SELECT datname, count(*) AS n FROM pg_stat_activity
    WHERE query ILIKE 'listen%' AND datname IN ${fx.sql([...fx.ns.postgres.databases])}
    GROUP BY datname ORDER BY datname`;
  t.deepEqual(
    listeners.map((l) => Number(l.n)),
    [1, 1],
    'one listener on each of the two databases',
  );
  for (const shard of shards)
    await shard.sql.begin((tx) => enqueue(tx, shard.schema, sampleEvent('media.uploaded')));
  await waitFor(
    'every shard relayed',
    async () => (await Promise.all(shards.map(outboxStatus))).every((s) => s.sent === 1),
    { timeoutMs: 3000 },
  );
  t.is(await storedCount(fx.jsm, prefix, 'MEDIA'), 4);
});

test('sent rows are pruned after the retention', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const relay = await startOutboxRelay({
    shards: [shard],
    publisher: createPublisher({ nc: fx.nc, prefix }),
    logger: silent,
    retentionMs: 0,
    pruneIntervalMs: 100,
    pollIntervalMs: 100,
  });
  t.teardown(() => relay.stop());
  await shard.sql.begin((tx) =>
    enqueue(tx, shard.schema, [sampleEvent('post.deleted'), sampleEvent('post.deleted')]),
  );
  await waitFor('pruned', async () => {
    const s = await outboxStatus(shard);
    return s.sent === 0 && s.unsent === 0 && relay.stats().pruned === 2;
  });
  t.pass();
});

test("a shard's events reach the stream in the order they were written, across batches", async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const events = Array.from({ length: 120 }, () => sampleEvent('like.created'));
  await shard.sql.begin((tx) => enqueue(tx, shard.schema, events.slice(0, 70)));
  await shard.sql.begin((tx) => enqueue(tx, shard.schema, events.slice(70)));
  const relay = await startOutboxRelay({
    shards: [shard],
    publisher: createPublisher({ nc: fx.nc, prefix }),
    logger: silent,
    batchSize: 32,
    parallelBatches: 1,
  });
  t.teardown(() => relay.stop());
  await waitFor('all stored', async () => (await storedCount(fx.jsm, prefix, 'SOCIAL')) === events.length);
  const stream = streamNameFor('SOCIAL', prefix);
  const stored: string[] = [];
  for (let seq = 1; seq <= events.length; seq++) {
    const message = await fx.jsm.streams.getMessage(stream, { seq });
    stored.push((message.json() as { id: string }).id);
  }
  t.deepEqual(
    stored,
    events.map((e) => e.id),
  );
  t.deepEqual(await outboxStatus(shard), { unsent: 0, sent: events.length });
});

test('stop() finishes the batch it claimed: published rows are marked sent', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  let claimed = false;
  const relay = await startOutboxRelay({
    shards: [shard],
    publisher: createPublisher({ nc: fx.nc, prefix }),
    logger: silent,
    afterPublish: async () => {
      claimed = true;
      await sleep(300);
    },
  });
  await shard.sql.begin((tx) =>
    enqueue(tx, shard.schema, [sampleEvent('like.deleted'), sampleEvent('like.deleted')]),
  );
  await waitFor('batch claimed and published', () => claimed);
  await relay.stop();
  t.deepEqual(await outboxStatus(shard), { unsent: 0, sent: 2 });
  t.is(await storedCount(fx.jsm, prefix, 'SOCIAL'), 2);
});

test("a shard's rows written while its batch runs wait for that batch and go in the next, not in an empty claim beside it", async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const batches: string[][] = [];
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const relay = await startOutboxRelay({
    shards: [shard],
    publisher: createPublisher({ nc: fx.nc, prefix }),
    logger: silent,
    parallelBatches: 2,
    afterPublish: async ({ eventIds }) => {
      batches.push([...eventIds]);
      if (batches.length === 1) await held;
    },
  });
  t.teardown(() => relay.stop());
  const first = sampleEvent('like.created');
  await shard.sql.begin((tx) => enqueue(tx, shard.schema, first));
  await waitFor('the first batch published', () => batches.length === 1);
  const second = sampleEvent('like.created');
  await shard.sql.begin((tx) => enqueue(tx, shard.schema, second));
  relay.wake();
  await sleep(300);
  t.is(batches.length, 1, 'no second batch of the shard beside the running one');
  release();
  await waitFor('the second row published after the first batch', () => batches.length === 2);
  t.deepEqual(batches, [[first.id], [second.id]]);
  t.deepEqual(await outboxStatus(shard), { unsent: 0, sent: 2 });
});

test('stop() does not wait out a failure backoff', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const closed = await fx.connect();
  await closed.close(); // every publish fails at once
  const relay = await startOutboxRelay({
    shards: [shard],
    publisher: createPublisher({ nc: closed, prefix }),
    logger: silent,
    retry: { initialMs: 10_000, maxMs: 10_000 },
  });
  await shard.sql.begin((tx) => enqueue(tx, shard.schema, sampleEvent('like.created')));
  await waitFor('publish failed', () => relay.stats().failed > 0);
  await shard.sql.begin((tx) => enqueue(tx, shard.schema, sampleEvent('like.created'))); // a notification meanwhile
  await sleep(100);
  const started = Date.now();
  await relay.stop();
  t.true(Date.now() - started < 1000, `stopped in ${Date.now() - started} ms`);
  t.deepEqual(await outboxStatus(shard), { unsent: 2, sent: 0 }, 'the events wait for the next relay');
});
