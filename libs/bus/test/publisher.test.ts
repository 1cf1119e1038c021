import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import { BusErrorCodes, createPublisher, PublishError, streamNameFor } from '../src/index.ts';
import { type Fixture, openFixture, sampleEvent, storedCount } from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openFixture();
});
test.after.always(async () => {
  await fx?.close();
  await stopTestInfra();
});

/** A prefix of the namespace with no streams: nothing captures its subjects. */
let bare = 0;
const streamlessPrefix = () => `${fx.ns.nats.prefix}_n${++bare}`;

const publishError = async (t: import('ava').ExecutionContext, promise: Promise<unknown>) => {
  const err = await t.throwsAsync(promise, { instanceOf: PublishError });
  return err as PublishError;
};

test('each publish is acknowledged with its stream and sequence; a republished event id is a duplicate stored once', async (t) => {
  const prefix = await fx.isolate();
  const publisher = createPublisher({ nc: fx.nc, prefix });
  const event = sampleEvent('like.created');
  const first = await publisher.publish(event);
  const second = await publisher.publish(sampleEvent('like.created'));
  const again = await publisher.publish(event);
  t.is(first.stream, streamNameFor('SOCIAL', prefix));
  t.false(first.duplicate);
  t.is(second.seq, first.seq + 1);
  t.true(again.duplicate);
  t.is(await storedCount(fx.jsm, prefix, 'SOCIAL'), 2);
});

test('a thousand publishes in flight at once are each acknowledged once, with distinct sequences', async (t) => {
  const prefix = await fx.isolate();
  const publisher = createPublisher({ nc: fx.nc, prefix });
  const receipts = await Promise.all(
    Array.from({ length: 1000 }, () => publisher.publish(sampleEvent('like.created'))),
  );
  t.is(new Set(receipts.map((r) => r.seq)).size, 1000);
  t.false(receipts.some((r) => r.duplicate));
  t.is(await storedCount(fx.jsm, prefix, 'SOCIAL'), 1000);
});

test('a subject no stream captures fails at once with NoStream', async (t) => {
  const publisher = createPublisher({ nc: fx.nc, prefix: streamlessPrefix(), timeoutMs: 10_000 });
  const started = Date.now();
  const err = await publishError(t, publisher.publish(sampleEvent('like.created')));
  t.is(err.code, BusErrorCodes.NoStream);
  t.regex(err.message, /no stream captures .*like\.created/);
  t.true(Date.now() - started < 5_000, 'answered by the server, not by the timeout');
});

test('a publish nobody acknowledges fails with PublishTimeout after the timeout; later acks still resolve', async (t) => {
  const prefix = streamlessPrefix();
  // a plain subscriber takes the subject (so the server reports no missing responder) and never replies
  const listener = fx.nc.subscribe(`${prefix}.>`);
  t.teardown(() => listener.unsubscribe());
  const publisher = createPublisher({ nc: fx.nc, prefix, timeoutMs: 300 });
  const started = Date.now();
  const err = await publishError(t, publisher.publish(sampleEvent('like.created')));
  t.is(err.code, BusErrorCodes.PublishTimeout);
  t.true(Date.now() - started >= 300);

  const withStreams = createPublisher({ nc: fx.nc, prefix: await fx.isolate(), timeoutMs: 300 });
  t.false((await withStreams.publish(sampleEvent('like.created'))).duplicate);
});

test('a stream refusing the message fails the publish with the server’s reason', async (t) => {
  const prefix = streamlessPrefix();
  const name = `${prefix.toUpperCase()}_TINY`;
  await fx.jsm.streams.add({ name, subjects: [`${prefix}.>`], max_msg_size: 64 });
  t.teardown(() => fx.jsm.streams.delete(name).then(() => undefined));
  const publisher = createPublisher({ nc: fx.nc, prefix });
  const err = await publishError(t, publisher.publish(sampleEvent('like.created')));
  t.is(err.code, BusErrorCodes.PublishFailed);
  t.regex(err.message, /message size exceeds maximum/i);
});

test('publishes waiting when the connection closes fail with ConnectionClosed at once, and so do later ones', async (t) => {
  const nc = await fx.connect();
  const prefix = streamlessPrefix();
  // a plain subscriber takes the subject and never replies: the publish waits for an ack that never comes
  nc.subscribe(`${prefix}.>`);
  const publisher = createPublisher({ nc, prefix, timeoutMs: 30_000 });
  const waiting = publisher.publish(sampleEvent('like.created'));
  const started = Date.now();
  await nc.close();
  const err = await publishError(t, waiting);
  t.is(err.code, BusErrorCodes.ConnectionClosed);
  t.true(Date.now() - started < 5_000);
  t.is(
    (await publishError(t, publisher.publish(sampleEvent('like.created')))).code,
    BusErrorCodes.ConnectionClosed,
  );
});
