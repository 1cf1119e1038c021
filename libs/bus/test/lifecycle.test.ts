import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import { createPublisher, defineConsumer, startConsumer, streamNameFor } from '../src/index.ts';
import {
  type Fixture,
  fast,
  openFixture,
  sampleEvent,
  silent,
  sleep,
  startStallProxy,
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

test('stop() drains: fetched events are finished and acked, nothing is left pending, nothing runs after', async (t) => {
  const prefix = await fx.isolate();
  const started: string[] = [];
  const finished: string[] = [];
  const definition = defineConsumer({
    name: 'feed-drain',
    subjects: ['like.created'],
    handlers: {
      'like.created': async (event) => {
        started.push(event.id);
        await sleep(400);
        finished.push(event.id);
      },
    },
    settings: { ...fast, concurrency: 2 },
  });
  const runner = await startConsumer({ nc: fx.nc, definition, prefix, logger: silent });
  const publisher = createPublisher({ nc: fx.nc, prefix });
  for (let i = 0; i < 8; i++) await publisher.publish(sampleEvent('like.created'));
  await waitFor('two handlers running', () => started.length === 2);
  await runner.stop();
  t.deepEqual([...finished].sort(), [...started].sort(), 'stop waited for every handler it started');
  t.true(started.length < 8, 'stopped fetching');
  // The server applies acks asynchronously; with no consumer running, one never sent would stay pending.
  const info = await waitFor(
    'every fetched event acked and flushed: nothing waits for ack_wait',
    async () => {
      const i = await fx.jsm.consumers.info(streamNameFor('SOCIAL', prefix), 'feed-drain');
      return i.num_ack_pending === 0 ? i : undefined;
    },
  );
  t.is(info.num_pending, 8 - started.length);
  const count = started.length;
  await sleep(300);
  t.is(started.length, count, 'nothing runs after stop()');

  // another instance picks up the rest at once
  const rest: string[] = [];
  const next = await startConsumer({
    nc: fx.nc,
    definition: defineConsumer({
      ...definition,
      handlers: {
        'like.created': async (e) => {
          rest.push(e.id);
        },
      },
    }),
    prefix,
    logger: silent,
  });
  t.teardown(() => next.stop());
  await waitFor('the remaining events handled', () => rest.length === 8 - count);
  t.is(new Set([...started, ...rest]).size, 8);
});

test('a handler longer than ack_wait is not redelivered: the runner keeps calling working()', async (t) => {
  const prefix = await fx.isolate();
  let calls = 0;
  let done = false;
  const definition = defineConsumer({
    name: 'media-slow',
    subjects: ['media.uploaded'],
    handlers: {
      'media.uploaded': async () => {
        calls++;
        await sleep(3500); // ack_wait is 1 s
        done = true;
      },
    },
    settings: { ...fast, ackWaitMs: 1000 },
  });
  const runner = await startConsumer({ nc: fx.nc, definition, prefix, logger: silent });
  t.teardown(() => runner.stop());
  // a second instance would receive a redelivery if the ack timer expired
  const other = await startConsumer({ nc: fx.nc, definition, prefix, logger: silent });
  t.teardown(() => other.stop());
  await createPublisher({ nc: fx.nc, prefix }).publish(sampleEvent('media.uploaded'));
  await waitFor('slow handler done', () => done, { timeoutMs: 8000 });
  await sleep(300);
  t.is(calls, 1);
  const info = await fx.jsm.consumers.info(streamNameFor('MEDIA', prefix), 'media-slow');
  t.is(info.num_redelivered, 0);
});

test('concurrency bounds the handlers running at once', async (t) => {
  const prefix = await fx.isolate();
  let running = 0;
  let peak = 0;
  let handled = 0;
  const definition = defineConsumer({
    name: 'feed-bounded',
    subjects: ['like.created'],
    handlers: {
      'like.created': async () => {
        running++;
        peak = Math.max(peak, running);
        await sleep(40);
        running--;
        handled++;
      },
    },
    settings: { ...fast, concurrency: 3 },
  });
  const runner = await startConsumer({ nc: fx.nc, definition, prefix, logger: silent });
  t.teardown(() => runner.stop());
  const publisher = createPublisher({ nc: fx.nc, prefix });
  await Promise.all(Array.from({ length: 30 }, () => publisher.publish(sampleEvent('like.created'))));
  await waitFor('all handled', () => handled === 30);
  t.is(peak, 3);
});

test('a backlog is shared by the replicas and no event waits out its ack_wait in a buffer', async (t) => {
  const prefix = await fx.isolate();
  const handledBy = { a: 0, b: 0 };
  const definition = (replica: 'a' | 'b') =>
    defineConsumer({
      name: 'media-shared',
      subjects: ['media.uploaded'],
      handlers: {
        'media.uploaded': async () => {
          await sleep(250);
          handledBy[replica]++;
        },
      },
      // Twelve events at 250 ms, one at a time on each of two replicas, take 1.5 s: an event buffered behind
      // five others in one replica would wait out its 1 s ack_wait there and be redelivered.
      settings: { ...fast, ackWaitMs: 1000, concurrency: 1 },
    });
  const a = await startConsumer({ nc: fx.nc, definition: definition('a'), prefix, logger: silent });
  t.teardown(() => a.stop());
  const b = await startConsumer({ nc: fx.nc, definition: definition('b'), prefix, logger: silent });
  t.teardown(() => b.stop());
  const publisher = createPublisher({ nc: fx.nc, prefix });
  for (let i = 0; i < 12; i++) await publisher.publish(sampleEvent('media.uploaded'));
  await waitFor('backlog handled', () => handledBy.a + handledBy.b >= 12, { timeoutMs: 10_000 });
  await sleep(300);
  t.is(handledBy.a + handledBy.b, 12, 'each event handled once');
  t.true(handledBy.a >= 2 && handledBy.b >= 2, `both replicas worked: ${JSON.stringify(handledBy)}`);
  const info = await fx.jsm.consumers.info(streamNameFor('MEDIA', prefix), 'media-shared');
  t.is(info.num_redelivered, 0);
});

test('after missed heartbeats (stalled connection) the pull is recreated and consuming goes on', async (t) => {
  const prefix = await fx.isolate();
  const port = Number(new URL(`nats://${fx.ns.nats.servers.replace(/^nats:\/\//, '')}`).port || 4222);
  const proxy = await startStallProxy(port);
  t.teardown(() => proxy.close());
  const nc = await fx.connect({ servers: `127.0.0.1:${proxy.port}`, pingInterval: 60_000 });
  const handled: string[] = [];
  const definition = defineConsumer({
    name: 'feed-stall',
    subjects: ['like.created'],
    handlers: {
      'like.created': async (event) => {
        handled.push(event.id);
      },
    },
    settings: { ...fast, pullExpiresMs: 1000 }, // idle heartbeats every 500 ms
  });
  const runner = await startConsumer({ nc, definition, prefix, logger: silent });
  t.teardown(() => runner.stop());
  const publisher = createPublisher({ nc: fx.nc, prefix });
  const before = sampleEvent('like.created');
  await publisher.publish(before);
  await waitFor('first event', () => handled.length === 1);

  proxy.stall();
  await sleep(2500);
  proxy.resume();
  await waitFor('pull recreated after missed heartbeats', () => runner.stats().restarts > 0, {
    timeoutMs: 5000,
  });
  const after = sampleEvent('like.created');
  await publisher.publish(after);
  await waitFor('consuming goes on', () => handled.includes(after.id), { timeoutMs: 5000 });
  t.is(new Set(handled).size, 2);
});
