import type { AnyCloudEvent, CloudEvent } from '@instantpost/events';
import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import { AckPolicy, nanos } from 'nats';
import {
  BusConfigError,
  BusErrorCodes,
  type ConsumerDefinition,
  createPublisher,
  defineConsumer,
  type HandlerContext,
  handleOnce,
  startConsumer,
  streamNameFor,
} from '../src/index.ts';
import { advisoryStreamNameFor } from '../src/names.ts';
import {
  effects,
  type Fixture,
  fast,
  openFixture,
  sampleEvent,
  silent,
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

test('publish → consume → ack: the handler gets the typed event, its subject and delivery count', async (t) => {
  const prefix = await fx.isolate();
  const seen: Array<{ event: CloudEvent<'like.created'>; ctx: HandlerContext<'like.created'> }> = [];
  const consumer = defineConsumer({
    name: 'notification-likes',
    subjects: ['like.created'],
    handlers: {
      'like.created': async (event, ctx) => {
        seen.push({ event, ctx });
      },
    },
    settings: fast,
  });
  const runner = await startConsumer({ nc: fx.nc, definition: consumer, prefix, logger: silent });
  t.teardown(() => runner.stop());
  const publisher = createPublisher({ nc: fx.nc, prefix });
  const event = sampleEvent('like.created');
  const receipt = await publisher.publish(event);
  t.is(receipt.stream, streamNameFor('SOCIAL', prefix));
  t.false(receipt.duplicate);

  await waitFor('handled', () => seen.length === 1);
  const [first] = seen;
  t.deepEqual(first?.event, event);
  t.is(first?.event.data.postAuthorId, (event as CloudEvent<'like.created'>).data.postAuthorId);
  t.is(first?.ctx.subject, 'like.created');
  t.is(first?.ctx.deliveries, 1);
  t.is(first?.ctx.consumer, 'notification-likes');
  t.is(first?.ctx.headers?.get('Nats-Msg-Id'), event.id, 'Nats-Msg-Id carries the event id');
  const info = await waitFor('acked', async () => {
    const i = await fx.jsm.consumers.info(streamNameFor('SOCIAL', prefix), 'notification-likes');
    return i.num_ack_pending === 0 && i.delivered.stream_seq === 1 ? i : undefined;
  });
  t.is(info.num_redelivered, 0);
  await waitFor('counted as acked', () => runner.stats().acked === 1);
});

test('the same event published twice is handled once (duplicate window, then inbox)', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  let calls = 0;
  const outcomes: boolean[] = [];
  const definition = defineConsumer({
    name: 'feed-posts',
    subjects: ['post.published'],
    handlers: {
      'post.published': async (event, ctx) => {
        calls++;
        outcomes.push(
          await handleOnce(shard, ctx.consumer, event.id, async (tx) => {
            await tx`INSERT INTO ${tx(`${shard.schema}.effects`)} (event_id, consumer) VALUES (${event.id}, ${ctx.consumer})`;
          }),
        );
      },
    },
    settings: fast,
  });
  const runner = await startConsumer({ nc: fx.nc, definition, prefix, logger: silent });
  t.teardown(() => runner.stop());
  const publisher = createPublisher({ nc: fx.nc, prefix });
  const event = sampleEvent('post.published');

  const first = await publisher.publish(event);
  const second = await publisher.publish(event);
  t.false(first.duplicate);
  t.true(second.duplicate, 'the stream drops the republished id');
  // past the duplicate window (or by hand, as `nats pub` does: no Nats-Msg-Id): stored again
  fx.nc.publish(`${prefix}.post.published`, JSON.stringify(event));
  await fx.nc.flush();

  // the handler counts a call before its transaction: wait for both outcomes, which are what is asserted
  await waitFor('both stored copies handled', () => outcomes.length === 2);
  t.is(calls, 2);
  t.is(await storedCount(fx.jsm, prefix, 'SOCIAL'), 2);
  t.deepEqual(outcomes, [true, false], 'the second copy finds the inbox row and changes nothing');
  t.deepEqual([...(await effects(shard))], [[event.id, 1]]);
});

test('a durable is created with the declared settings; a second start changes nothing, a new setting updates it', async (t) => {
  const prefix = await fx.isolate();
  const make = (maxDeliver: number): ConsumerDefinition<'follow.created' | 'follow.deleted'> =>
    defineConsumer({
      name: 'feed-follows',
      subjects: ['follow.created', 'follow.deleted'],
      handlers: { 'follow.created': async () => {}, 'follow.deleted': async () => {} },
      settings: { ackWaitMs: 4000, maxDeliver, maxAckPending: 64, concurrency: 4 },
    });
  const stream = streamNameFor('SOCIAL', prefix);
  const r1 = await startConsumer({ nc: fx.nc, definition: make(4), prefix, logger: silent });
  await r1.stop();
  const created = await fx.jsm.consumers.info(stream, 'feed-follows');
  t.is(created.config.ack_policy, AckPolicy.Explicit);
  t.is(created.config.ack_wait, nanos(4000));
  t.is(created.config.max_deliver, 4);
  t.is(created.config.max_ack_pending, 64);
  t.is(created.config.inactive_threshold ?? 0, 0, 'no inactive_threshold on a long-lived durable');
  t.is(created.config.filter_subject, `${prefix}.follow.>`, 'narrowest filter a 2.9 server accepts');

  const advisories = await fx.jsm.consumers.info(advisoryStreamNameFor(prefix), 'feed-follows');
  t.is(
    advisories.config.filter_subject,
    `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.feed-follows`,
    'a durable of the same name reads its own max-delivery advisories',
  );
  t.is(advisories.config.max_deliver, -1, 'an advisory is never given up');

  const r2 = await startConsumer({ nc: fx.nc, definition: make(4), prefix, logger: silent });
  await r2.stop();
  const again = await fx.jsm.consumers.info(stream, 'feed-follows');
  t.is(again.created, created.created);
  t.deepEqual(again.config, created.config);
  const advisoriesAgain = await fx.jsm.consumers.info(advisoryStreamNameFor(prefix), 'feed-follows');
  t.deepEqual(advisoriesAgain.config, advisories.config);

  const r3 = await startConsumer({ nc: fx.nc, definition: make(6), prefix, logger: silent });
  await r3.stop();
  const updated = await fx.jsm.consumers.info(stream, 'feed-follows');
  t.is(updated.created, created.created, 'updated in place, position kept');
  t.is(updated.config.max_deliver, 6);
});

test('one consumer over two streams (like upload: media.rejected and post.published)', async (t) => {
  const prefix = await fx.isolate();
  const got: string[] = [];
  const definition = defineConsumer({
    name: 'upload-status',
    subjects: ['media.rejected', 'post.published'],
    handlers: {
      'media.rejected': async (event) => {
        got.push(`rejected:${event.data.reason}`);
      },
      'post.published': async (event) => {
        got.push(`published:${event.data.mediaId}`);
      },
    },
    settings: fast,
  });
  const runner = await startConsumer({ nc: fx.nc, definition, prefix, logger: silent });
  t.teardown(() => runner.stop());
  t.deepEqual(
    [...runner.streams].sort(),
    [streamNameFor('MEDIA', prefix), streamNameFor('SOCIAL', prefix)].sort(),
  );
  const publisher = createPublisher({ nc: fx.nc, prefix });
  await publisher.publish(sampleEvent('media.rejected', { reason: 'not an image' }));
  await publisher.publish(sampleEvent('post.published', { mediaId: '42' }));
  await waitFor('both handled', () => got.length === 2);
  t.deepEqual(got.sort(), ['published:42', 'rejected:not an image']);
});

test('events of subjects the consumer does not handle are acknowledged and skipped, not dead-lettered', async (t) => {
  const prefix = await fx.isolate();
  const got: string[] = [];
  const definition = defineConsumer({
    name: 'notification-social',
    subjects: ['like.created', 'comment.created'],
    handlers: {
      'like.created': async (e) => {
        got.push(e.type);
      },
      'comment.created': async (e) => {
        got.push(e.type);
      },
    },
    settings: fast,
  });
  const runner = await startConsumer({ nc: fx.nc, definition, prefix, logger: silent });
  t.teardown(() => runner.stop());
  const publisher = createPublisher({ nc: fx.nc, prefix });
  // on a 2.9 server the filter is the whole SOCIAL stream: post.deleted reaches this consumer
  await publisher.publish(sampleEvent('post.deleted'));
  await publisher.publish(sampleEvent('comment.created'));
  await waitFor('comment handled', () => got.length === 1);
  const multiFilter = (fx.nc.info?.version ?? '').startsWith('2.9') === false;
  await waitFor('post.deleted skipped', () => multiFilter || runner.stats().skipped === 1);
  t.deepEqual(got, ['comment.created']);
  t.is(runner.stats().deadLettered + runner.stats().invalid, 0);
});

test('a declaration with a subject without handler, a handler without subject or a bad name fails at start-up', (t) => {
  const noop = async () => {};
  const cases: Array<[string, () => unknown]> = [
    [
      'subject without handler',
      () =>
        defineConsumer({
          name: 'x',
          subjects: ['like.created', 'like.deleted'],
          handlers: { 'like.created': noop },
        } as never),
    ],
    [
      'handler without subject',
      () =>
        defineConsumer({
          name: 'x',
          subjects: ['like.created'],
          handlers: { 'like.created': noop, 'like.deleted': noop },
        } as never),
    ],
    [
      'unknown subject',
      () => defineConsumer({ name: 'x', subjects: ['like.exploded'], handlers: {} } as never),
    ],
    ['no subject', () => defineConsumer({ name: 'x', subjects: [], handlers: {} })],
    [
      'duplicate subject',
      () =>
        defineConsumer({
          name: 'x',
          subjects: ['like.created', 'like.created'],
          handlers: { 'like.created': noop },
        }),
    ],
  ];
  for (const [label, declare] of cases) {
    const error = t.throws(declare, { instanceOf: BusConfigError }, label);
    t.is(error?.code, BusErrorCodes.Definition, label);
  }
  const badName = t.throws(
    () =>
      defineConsumer({ name: 'feed.fanout', subjects: ['like.created'], handlers: { 'like.created': noop } }),
    { instanceOf: BusConfigError },
  );
  t.is(badName?.code, BusErrorCodes.InvalidName);
  t.throws(() =>
    defineConsumer({ name: 'a'.repeat(33), subjects: ['like.created'], handlers: { 'like.created': noop } }),
  );
});

test('startConsumer refuses a hand-built definition that skips defineConsumer', async (t) => {
  const definition = {
    name: 'feed-bad',
    subjects: ['like.created'],
    handlers: {},
  } as unknown as ConsumerDefinition<'like.created'>;
  await t.throwsAsync(startConsumer({ nc: fx.nc, definition, logger: silent }), {
    instanceOf: BusConfigError,
  });
});

// keeps the AnyCloudEvent import honest: handlers narrow to their own subject
const _typed: (e: AnyCloudEvent) => string = (e) => e.type;
void _typed;
