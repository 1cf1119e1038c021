import type { CloudEvent } from '@instantpost/events';
import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import { headers as natsHeaders } from 'nats';
import {
  BusErrorCodes,
  createPublisher,
  DeadLetterHeaders,
  defineConsumer,
  NonRetryableError,
  startConsumer,
  streamNameFor,
} from '../src/index.ts';
import { advisoryStreamNameFor } from '../src/names.ts';
import {
  exampleText,
  type Fixture,
  fast,
  openFixture,
  readDeadLetters,
  sampleEvent,
  silent,
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

test('a failing handler is retried with growing delays, then dead-lettered with its error', async (t) => {
  const prefix = await fx.isolate();
  const attempts: Array<{ at: number; deliveries: number }> = [];
  const definition = defineConsumer({
    name: 'feed-fanout',
    subjects: ['post.published'],
    handlers: {
      'post.published': async (_event, ctx) => {
        attempts.push({ at: Date.now(), deliveries: ctx.deliveries });
        throw new Error('redis is down');
      },
    },
    settings: { ...fast, maxDeliver: 3, retryBackoff: { initialMs: 200, maxMs: 5000, factor: 2 } },
  });
  const runner = await startConsumer({ nc: fx.nc, definition, prefix, logger: silent });
  t.teardown(() => runner.stop());
  const event = sampleEvent('post.published');
  await createPublisher({ nc: fx.nc, prefix }).publish(event);

  const [dead] = await waitFor('dead letter', async () => {
    const letters = await readDeadLetters(fx.jsm, prefix);
    return letters.length > 0 ? letters : undefined;
  });
  t.deepEqual(
    attempts.map((a) => a.deliveries),
    [1, 2, 3],
    'max_deliver deliveries, no more',
  );
  // Lower bounds only (a loaded machine makes gaps longer, never shorter); the growth itself is unit-tested
  // in delivery-decision.test.ts.
  const [a1, a2, a3] = attempts.map((a) => a.at) as [number, number, number];
  t.true(a2 - a1 >= 150, `first retry after ~200 ms (was ${a2 - a1})`);
  t.true(a3 - a2 >= 300, `second retry after ~400 ms (was ${a3 - a2})`);

  t.is(dead?.subject, `${prefix}.dlq.post.published`);
  t.deepEqual(dead?.letter.event, event, 'the original event, ready to replay');
  t.is(dead?.letter.error.code, 'HANDLER_FAILED');
  t.is(dead?.letter.error.message, 'redis is down');
  t.is(dead?.letter.consumer, 'feed-fanout');
  t.is(dead?.letter.deliveries, 3);
  t.is(dead?.letter.subject, 'post.published');
  t.is(dead?.letter.stream, streamNameFor('SOCIAL', prefix));
  t.deepEqual(dead?.letter.headers['Nats-Msg-Id'], [event.id], 'original headers kept');
  t.is(dead?.headers[DeadLetterHeaders.ErrorCode], 'HANDLER_FAILED');

  // The letter is stored before the runner terminates the delivery and counts it: wait for those.
  const info = await waitFor('terminated', async () => {
    const i = await fx.jsm.consumers.info(streamNameFor('SOCIAL', prefix), 'feed-fanout');
    return i.num_ack_pending === 0 ? i : undefined;
  });
  t.is(info.num_pending, 0);
  t.is(attempts.length, 3, 'terminated: not delivered again');
  await waitFor('counted as dead-lettered', () => runner.stats().deadLettered === 1);
  t.is(runner.stats().retried, 2);
});

test('NonRetryableError dead-letters at once', async (t) => {
  const prefix = await fx.isolate();
  let calls = 0;
  const definition = defineConsumer({
    name: 'metadata-media',
    subjects: ['media.processed'],
    handlers: {
      'media.processed': async () => {
        calls++;
        throw new NonRetryableError('owner account does not exist');
      },
    },
    settings: fast,
  });
  const runner = await startConsumer({ nc: fx.nc, definition, prefix, logger: silent });
  t.teardown(() => runner.stop());
  await createPublisher({ nc: fx.nc, prefix }).publish(sampleEvent('media.processed'));
  const [dead] = await waitFor('dead letter', async () => {
    const l = await readDeadLetters(fx.jsm, prefix);
    return l.length ? l : undefined;
  });
  t.is(calls, 1);
  t.is(dead?.letter.error.code, BusErrorCodes.NonRetryable);
  t.is(dead?.letter.deliveries, 1);
});

test('a hand-written event sent by a plain core publish with no headers is handled like any other', async (t) => {
  const prefix = await fx.isolate();
  const seen: Array<{ event: CloudEvent<'media.uploaded'>; hasHeaders: boolean; deliveries: number }> = [];
  const definition = defineConsumer({
    name: 'media-processing',
    subjects: ['media.uploaded'],
    handlers: {
      'media.uploaded': async (event, ctx) => {
        seen.push({ event, hasHeaders: ctx.headers !== undefined, deliveries: ctx.deliveries });
      },
    },
    settings: fast,
  });
  const runner = await startConsumer({ nc: fx.nc, definition, prefix, logger: silent });
  t.teardown(() => runner.stop());
  // exactly what `nats pub media.uploaded "$(cat deploy/nats/examples/media.uploaded.json)"` sends
  fx.nc.publish(`${prefix}.media.uploaded`, exampleText('media.uploaded'));
  await waitFor('handled', () => seen.length === 1);
  const [got] = seen;
  t.false(got?.hasHeaders ?? true, 'no headers at all');
  t.is(got?.deliveries, 1);
  t.is(got?.event.data.sha256, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  await waitFor('acked', () => runner.stats().acked === 1);
});

test('malformed events land in DLQ with the reason, and the consumer goes on with the next ones', async (t) => {
  const prefix = await fx.isolate();
  const handled: string[] = [];
  const definition = defineConsumer({
    name: 'notification-posts',
    subjects: ['post.published', 'post.deleted'],
    handlers: {
      'post.published': async (event) => {
        handled.push(event.id);
      },
      'post.deleted': async (event) => {
        handled.push(event.id);
      },
    },
    settings: fast,
  });
  const runner = await startConsumer({ nc: fx.nc, definition, prefix, logger: silent });
  t.teardown(() => runner.stop());
  const subject = `${prefix}.post.published`;
  const valid = sampleEvent('post.published');
  const { authorId: _dropped, ...withoutAuthor } = (valid as CloudEvent<'post.published'>).data;
  const h = natsHeaders();
  h.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  fx.nc.publish(subject, '{"specversion":"1.0","id":"x1"', { headers: h }); // truncated JSON
  fx.nc.publish(subject, JSON.stringify({ ...valid, id: 'x2', type: 'post.exploded' })); // unknown type
  fx.nc.publish(subject, JSON.stringify({ ...valid, id: 'x3', data: withoutAuthor })); // schema violation
  fx.nc.publish(subject, JSON.stringify(sampleEvent('post.deleted'))); // wrong subject for its type
  fx.nc.publish(subject, 'hello'); // not even JSON
  await createPublisher({ nc: fx.nc, prefix }).publish(valid);

  await waitFor('the valid event after them is handled', () => handled.length === 1);
  t.deepEqual(handled, [valid.id]);
  const letters = await waitFor('five dead letters', async () => {
    const l = await readDeadLetters(fx.jsm, prefix);
    return l.length === 5 ? l : undefined;
  });
  const byCode = letters.map((l) => [l.letter.error.code, l.letter.error.path ?? '']);
  t.deepEqual(byCode, [
    ['BAD_JSON', ''],
    ['UNKNOWN_TYPE', '/type'],
    ['SCHEMA_VIOLATION', '/data/authorId'],
    ['TYPE_MISMATCH', '/type'],
    ['BAD_JSON', ''],
  ]);
  t.is(letters[0]?.letter.event, '{"specversion":"1.0","id":"x1"', 'raw text when not JSON');
  t.is((letters[2]?.letter.event as { id: string } | undefined)?.id, 'x3', 'parsed JSON when JSON');
  t.regex(letters[2]?.letter.error.message ?? '', /\/data\/authorId/);
  t.true(
    letters.every((l) => l.letter.deliveries === 1),
    'never retried',
  );
  t.deepEqual(letters[0]?.letter.headers.traceparent, [
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  ]);
  await waitFor('five counted as invalid', () => runner.stats().invalid === 5);
  await waitFor('nothing left hanging', async () => {
    const info = await fx.jsm.consumers.info(streamNameFor('SOCIAL', prefix), 'notification-posts');
    return info.num_ack_pending === 0;
  });
});

test('an event the server gave up on while no replica was running still reaches DLQ (stored advisory)', async (t) => {
  const prefix = await fx.isolate();
  const definition = defineConsumer({
    name: 'feed-likes',
    subjects: ['like.created'],
    handlers: { 'like.created': async () => {} },
    settings: { ...fast, ackWaitMs: 1000, maxDeliver: 1 },
  });
  // create the durable, then play a process that takes the event and dies before acking
  await (await startConsumer({ nc: fx.nc, definition, prefix, logger: silent })).stop();
  const event = sampleEvent('like.created');
  await createPublisher({ nc: fx.nc, prefix }).publish(event);
  const doomed = await fx.nc.jetstream().consumers.get(streamNameFor('SOCIAL', prefix), 'feed-likes');
  const taken = await doomed.next({ expires: 2000 });
  t.truthy(taken, 'delivered once, never acked');
  // Another bare pull, past ack_wait: the server gives the event up and says so in an advisory, while no
  // runner (and so no subscriber) exists. Only a stream keeps it.
  const advisories = advisoryStreamNameFor(prefix);
  await waitFor('max-deliveries advisory stored', async () => {
    await doomed.next({ expires: 1000 });
    return (await fx.jsm.streams.info(advisories)).state.messages === 1;
  });

  const survivor = await startConsumer({ nc: fx.nc, definition, prefix, logger: silent });
  t.teardown(() => survivor.stop());
  const [dead, ...more] = await waitFor('dead letter from the stored advisory', async () => {
    const l = await readDeadLetters(fx.jsm, prefix);
    return l.length ? l : undefined;
  });
  t.is(dead?.letter.error.code, 'MAX_DELIVERIES');
  t.regex(dead?.letter.error.message ?? '', /^max deliveries exceeded/);
  t.deepEqual(dead?.letter.event, event, 'the original event, fetched by its stream sequence');
  t.is(dead?.letter.deliveries, 1);
  t.deepEqual(dead?.letter.headers['Nats-Msg-Id'], [event.id]);
  t.is(more.length, 0);
  await waitFor('counted', () => survivor.stats().deadLettered === 1);
  await waitFor('the advisory is acknowledged: a restart does not dead-letter it again', async () => {
    const info = await fx.jsm.consumers.info(advisories, 'feed-likes');
    return info.num_ack_pending === 0 && info.num_pending === 0;
  });
});
