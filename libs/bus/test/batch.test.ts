import type { AnyCloudEvent } from '@instantpost/events';
import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import { afterBatchFailure } from '../src/batch-delivery.ts';
import { resolveSettings } from '../src/consumer-config.ts';
import {
  createPublisher,
  defineConsumer,
  type OutboxShard,
  startConsumer,
  withInbox,
  withInboxBatch,
} from '../src/index.ts';
import { natsSubjectFor } from '../src/names.ts';
import {
  effects,
  type Fixture,
  fast,
  openFixture,
  readDeadLetters,
  sampleEvent,
  silent,
  sleep,
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

test('after a failed batch an event is retried alone with backoff, or on its last delivery delivered alone now', (t) => {
  const policy = resolveSettings({ maxDeliver: 3, retryBackoff: { initialMs: 100, maxMs: 1000 } });
  const first = afterBatchFailure(1, policy, () => 0.5);
  t.deepEqual(first, { action: 'retry-alone', delayMs: 100 });
  t.deepEqual(afterBatchFailure(3, policy), { action: 'deliver-now' });
  t.deepEqual(afterBatchFailure(1, resolveSettings({ maxDeliver: 1 })), { action: 'deliver-now' });
});

/** One transaction per batch: inbox rows for all, effects for the new ones. */
function batchWriter(shard: OutboxShard, sizes: number[]) {
  return async (events: readonly AnyCloudEvent[], consumer: string) => {
    sizes.push(events.length);
    await shard.sql.begin(async (tx) => {
      const fresh = await withInboxBatch(
        tx,
        shard.schema,
        consumer,
        events.map((e) => e.id),
      );
      for (const id of fresh) {
        await tx`INSERT INTO ${tx(`${shard.schema}.effects`)} (event_id, consumer) VALUES (${id}, ${consumer})`;
      }
    });
  };
}

test('a consumer with handleBatch gets first deliveries in batches, commits them together, each once', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const sizes: number[] = [];
  const write = batchWriter(shard, sizes);
  let alone = 0;
  const runner = await startConsumer({
    nc: fx.nc,
    prefix,
    logger: silent,
    definition: defineConsumer({
      name: 'batched',
      subjects: ['like.created', 'like.deleted'],
      handlers: {
        'like.created': async (event, ctx) => {
          alone++;
          await write([event], ctx.consumer);
        },
        'like.deleted': async (event, ctx) => {
          alone++;
          await write([event], ctx.consumer);
        },
      },
      handleBatch: async (events, ctx) => write(events, ctx.consumer),
      settings: { ...fast, batchSize: 50, concurrency: 2 },
    }),
  });
  t.teardown(() => runner.stop());
  const publisher = createPublisher({ nc: fx.nc, prefix });
  const events = Array.from({ length: 400 }, (_, i) => sampleEvent(i % 2 ? 'like.created' : 'like.deleted'));
  await Promise.all(events.map((e) => publisher.publish(e)));
  // the same event again, as a replay would bring it (no Nats-Msg-Id): the inbox skips it
  const [again] = events;
  if (!again) throw new Error('no event');
  await fx.nc.jetstream().publish(natsSubjectFor(again.type, prefix), JSON.stringify(again));

  await waitFor('every event handled', () => runner.stats().acked === 401, { timeoutMs: 30_000 });
  const done = await effects(shard);
  t.is(done.size, 400);
  t.true(
    [...done.values()].every((n) => n === 1),
    'each effect once',
  );
  t.is(alone, 0, 'no event went through its subject handler');
  t.true(Math.max(...sizes) > 1, `batches of several events: ${sizes.join(',')}`);
  t.true(Math.max(...sizes) <= 50, 'never more than batchSize');
});

test('in a batch: an invalid event is dead-lettered at once, a failing one retried alone until DLQ, the rest handled', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const sizes: number[] = [];
  const write = batchWriter(shard, sizes);
  const poison = sampleEvent('like.created');
  const failIfPoison = (events: readonly AnyCloudEvent[]) => {
    if (events.some((e) => e.id === poison.id)) throw new Error('poisoned');
  };
  const runner = await startConsumer({
    nc: fx.nc,
    prefix,
    logger: silent,
    definition: defineConsumer({
      name: 'batched',
      subjects: ['like.created'],
      handlers: {
        'like.created': async (event, ctx) => {
          failIfPoison([event]);
          await shard.sql.begin(async (tx) => {
            if (!(await withInbox(tx, shard.schema, ctx.consumer, event.id))) return;
            await tx`INSERT INTO ${tx(`${shard.schema}.effects`)} (event_id, consumer) VALUES (${event.id}, ${ctx.consumer})`;
          });
        },
      },
      handleBatch: async (events, ctx) => {
        failIfPoison(events);
        await write(events, ctx.consumer);
      },
      settings: { ...fast, batchSize: 100, concurrency: 1 },
    }),
  });
  t.teardown(() => runner.stop());
  const js = fx.nc.jetstream();
  const good = Array.from({ length: 30 }, () => sampleEvent('like.created'));
  const subject = natsSubjectFor('like.created', prefix);
  // published without awaiting one by one, so they arrive together and form batches with the bad ones
  await Promise.all([
    ...good.slice(0, 15).map((e) => js.publish(subject, JSON.stringify(e))),
    js.publish(subject, JSON.stringify(poison)),
    js.publish(subject, '{"specversion":"1.0","type":"like.created","id":"broken"}'),
    ...good.slice(15).map((e) => js.publish(subject, JSON.stringify(e))),
  ]);

  await waitFor(
    'every event settled',
    () => runner.stats().acked === 30 && runner.stats().deadLettered >= 1,
    {
      timeoutMs: 30_000,
    },
  );
  const done = await effects(shard);
  t.deepEqual([...done.keys()].sort(), good.map((e) => e.id).sort());
  t.true([...done.values()].every((n) => n === 1));
  const letters = await waitFor('two dead letters', async () => {
    const all = await readDeadLetters(fx.jsm, prefix);
    return all.length === 2 ? all : undefined;
  });
  const codes = letters.map((l) => l.letter.error.code).sort();
  t.is(codes[1], 'NOT_CLOUDEVENT', 'the broken event at once');
  t.is(codes[0], 'HANDLER_FAILED', 'the poisoned one after its retries alone');
  const poisoned = letters.find((l) => l.letter.error.code === 'HANDLER_FAILED');
  t.is(poisoned?.letter.deliveries, fast.maxDeliver);
  t.is(runner.stats().invalid, 1);
});

test('with batchLingerMs a partial batch waits for more in proportion to the arrival rate: a lone event goes at once, a stream waits, a full batch goes at once', async (t) => {
  const prefix = await fx.isolate();
  const batches: { ids: string[]; at: number }[] = [];
  const consumer = await startConsumer({
    nc: fx.nc,
    prefix,
    logger: silent,
    definition: defineConsumer({
      name: 'lingering',
      subjects: ['like.created'],
      handlers: { 'like.created': async () => {} },
      handleBatch: async (events) => {
        batches.push({ ids: events.map((e) => e.id), at: performance.now() });
      },
      settings: { ...fast, batchSize: 50, concurrency: 2, batchLingerMs: 2000 },
    }),
  });
  t.teardown(() => consumer.stop());
  const publisher = createPublisher({ nc: fx.nc, prefix });
  const publish = async (n: number, gapMs = 0) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const event = sampleEvent('like.created');
      await publisher.publish(event);
      ids.push(event.id);
      if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
    return ids;
  };

  // a quiet consumer: waiting 2 s for more would only delay it (at ~1 event/s the linger is ~80 ms)
  let sent = performance.now();
  const lone = await publish(1);
  await waitFor('the lone event starts', () => batches.length === 1);
  t.deepEqual(batches[0]?.ids, lone);
  t.true((batches[0]?.at ?? Infinity) - sent < 1000, 'well before the 2 s linger');

  const full = await publish(50);
  await waitFor('the full batch starts', () => batches.length === 2);
  t.deepEqual(batches[1]?.ids, full, 'a full batch goes as soon as it is full');

  // now a stream (~50 events/s just seen): a partial batch waits the whole linger for more
  sent = performance.now();
  const stream = await publish(20, 20);
  await waitFor('the stream starts', () => batches.length === 3, { timeoutMs: 10_000 });
  t.deepEqual(batches[2]?.ids, stream, 'one batch for the whole stream');
  t.true((batches[2]?.at ?? 0) - sent >= 1900, `it waited the linger (${(batches[2]?.at ?? 0) - sent} ms)`);
  await waitFor('all acked', () => consumer.stats().acked >= 71);
  await sleep(2500); // past ack_wait (2 s): an event that waited its linger without heartbeats comes again
  t.is(consumer.stats().acked, 71, 'each event delivered once: the linger heartbeats what waits');
});

test('batchLingerMs must be a whole number of milliseconds, 0 or more', (t) => {
  t.is(resolveSettings({}).batchLingerMs, 0);
  t.is(resolveSettings({ batchLingerMs: 50 }).batchLingerMs, 50);
  t.throws(() => resolveSettings({ batchLingerMs: -1 }), { message: /batchLingerMs/ });
  t.throws(() => resolveSettings({ batchLingerMs: 2.5 }), { message: /batchLingerMs/ });
});
