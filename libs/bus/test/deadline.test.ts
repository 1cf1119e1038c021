import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import { createPublisher, defineConsumer, startConsumer, streamNameFor } from '../src/index.ts';
import { type Fixture, fast, openFixture, readDeadLetters, sampleEvent, silent, waitFor } from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openFixture();
});
test.after.always(async () => {
  await fx?.close();
  await stopTestInfra();
});

const HUNG_USER = '404';

test('a handler that never resolves times out: retried with backoff, dead-lettered after maxDeliver, its slot freed', async (t) => {
  const prefix = await fx.isolate();
  const hung: Array<{ deliveries: number; signal: AbortSignal }> = [];
  const handled: string[] = [];
  const progress = new Set<NodeJS.Timeout>();
  t.teardown(() => {
    for (const timer of progress) clearInterval(timer);
  });
  const definition = defineConsumer({
    name: 'media-hung',
    subjects: ['like.created'],
    handlers: {
      'like.created': async (event, ctx) => {
        if (event.data.userId !== HUNG_USER) {
          handled.push(event.id);
          return;
        }
        hung.push({ deliveries: ctx.deliveries, signal: ctx.signal });
        // a stuck loop that keeps reporting progress: past the deadline it no longer holds the event
        progress.add(setInterval(() => ctx.heartbeat(), 50));
        await new Promise<never>(() => {});
      },
    },
    // One slot: the other events can only run once the hung handler's slot is given back.
    settings: { ...fast, concurrency: 1, maxDeliver: 3, handlerTimeoutMs: 300, ackWaitMs: 2000 },
  });
  const runner = await startConsumer({ nc: fx.nc, definition, prefix, logger: silent });
  const publisher = createPublisher({ nc: fx.nc, prefix });
  const stuck = sampleEvent('like.created', { userId: HUNG_USER });
  const others = [sampleEvent('like.created'), sampleEvent('like.created')];
  await publisher.publish(stuck);
  for (const event of others) await publisher.publish(event);

  const [dead, ...more] = await waitFor('the hung event dead-lettered', async () => {
    const l = await readDeadLetters(fx.jsm, prefix);
    return l.length ? l : undefined;
  });
  t.is(more.length, 0);
  t.is(dead?.letter.error.code, 'HANDLER_TIMEOUT');
  t.regex(dead?.letter.error.message ?? '', /did not finish within 300 ms/);
  t.deepEqual(dead?.letter.event, stuck);
  t.is(dead?.letter.deliveries, 3);
  t.deepEqual(
    hung.map((h) => h.deliveries),
    [1, 2, 3],
    'retried up to maxDeliver, never redelivered by an expired ack_wait in between',
  );
  t.true(
    hung.every((h) => h.signal.aborted),
    'each run was told its deadline passed',
  );

  await waitFor('the other events handled in the freed slot', () => handled.length === 2);
  t.deepEqual([...handled].sort(), others.map((e) => e.id).sort());
  await waitFor('counted', () => runner.stats().deadLettered === 1 && runner.stats().acked === 2);
  t.like(runner.stats(), { timedOut: 3, retried: 2, deadLettered: 1, acked: 2 });
  await waitFor('no slot held by the hung handlers', () => runner.stats().inFlight === 0);
  await waitFor('nothing held on the server either', async () => {
    const info = await fx.jsm.consumers.info(streamNameFor('SOCIAL', prefix), 'media-hung');
    return info.num_ack_pending === 0 && info.num_pending === 0;
  });

  // stop() waits for running handlers, not for the three that will never return
  await runner.stop();
  t.pass();
});
