import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import { nanos, RetentionPolicy, StorageType } from 'nats';
import { BusConfigError, BusErrorCodes, desiredStreams, ensureStreams, streamNameFor } from '../src/index.ts';
import { advisoryStreamNameFor } from '../src/names.ts';
import { type Fixture, openFixture } from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openFixture();
});
test.after.always(async () => {
  await fx?.close();
  await stopTestInfra();
});

test.serial('ensureStreams creates the four event streams and the advisory stream as declared', async (t) => {
  const prefix = `${fx.ns.nats.prefix}_a`;
  const reports = await ensureStreams(fx.jsm, { prefix, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000 });
  t.deepEqual(
    reports.map((r) => [r.name, r.action]),
    ['MEDIA', 'SOCIAL', 'NOTIFICATION', 'DLQ', 'ADVISORIES'].map((s) => [
      `${prefix.toUpperCase()}_${s}`,
      'created',
    ]),
  );
  const social = await fx.jsm.streams.info(streamNameFor('SOCIAL', prefix));
  t.deepEqual(
    [...social.config.subjects].sort(),
    ['account.>', 'comment.>', 'follow.>', 'like.>', 'post.>', 'session.>'].map((s) => `${prefix}.${s}`),
  );
  t.is(social.config.storage, StorageType.File);
  t.is(social.config.retention, RetentionPolicy.Limits, 'several services consume the same events');
  t.is(social.config.max_age, nanos(3_600_000));
  t.is(social.config.duplicate_window, nanos(120_000));
  t.is(social.config.num_replicas, 1);
  const dlq = await fx.jsm.streams.info(streamNameFor('DLQ', prefix));
  t.deepEqual(dlq.config.subjects, [`${prefix}.dlq.>`]);
  t.is(dlq.config.max_age, nanos(30 * 24 * 3_600_000), 'dead letters are kept longer by default');
  const advisories = await fx.jsm.streams.info(advisoryStreamNameFor(prefix));
  t.deepEqual(
    [...advisories.config.subjects].sort(),
    ['MEDIA', 'NOTIFICATION', 'SOCIAL'].map(
      (s) => `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${prefix.toUpperCase()}_${s}.*`,
    ),
    "only this prefix's event streams: other prefixes' advisories are not captured",
  );
  t.is(advisories.config.storage, StorageType.File, 'survives a server restart');
  t.is(advisories.config.max_age, nanos(3_600_000), 'kept as long as the events they name');
});

test.serial('a second start with the same configuration changes nothing', async (t) => {
  const prefix = `${fx.ns.nats.prefix}_b`;
  const options = { prefix, maxAgeMs: 3_600_000 };
  const first = await ensureStreams(fx.jsm, options);
  await fx.nc.jetstream().publish(`${prefix}.post.deleted`, '{}');
  const before = await fx.jsm.streams.info(streamNameFor('SOCIAL', prefix));
  const second = await ensureStreams(fx.jsm, options);
  t.deepEqual(
    second.map((r) => r.action),
    ['unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged'],
  );
  const after = await fx.jsm.streams.info(streamNameFor('SOCIAL', prefix));
  t.is(after.created, before.created, 'not recreated');
  t.deepEqual(after.config, before.config);
  t.is(after.state.messages, 1, 'events kept');
  t.is(after.state.last_seq, before.state.last_seq);
  t.is(first[1]?.info.created, after.created);
});

test.serial('a changed max age updates the streams in place and keeps their events', async (t) => {
  const prefix = `${fx.ns.nats.prefix}_c`;
  await ensureStreams(fx.jsm, { prefix, maxAgeMs: 3_600_000 });
  await fx.nc.jetstream().publish(`${prefix}.media.uploaded`, '{}');
  const reports = await ensureStreams(fx.jsm, { prefix, maxAgeMs: 7_200_000 });
  t.deepEqual(
    reports.map((r) => r.action),
    ['updated', 'updated', 'updated', 'unchanged', 'updated'],
  );
  const media = await fx.jsm.streams.info(streamNameFor('MEDIA', prefix));
  t.is(media.config.max_age, nanos(7_200_000));
  t.is(media.state.messages, 1);
});

test.serial('a stream with another storage type is refused, not silently kept', async (t) => {
  const prefix = `${fx.ns.nats.prefix}_d`;
  await fx.jsm.streams.add({
    name: streamNameFor('MEDIA', prefix),
    subjects: [`${prefix}.media.>`],
    storage: StorageType.Memory,
  });
  const error = await t.throwsAsync(ensureStreams(fx.jsm, { prefix }), { instanceOf: BusConfigError });
  t.is(error?.code, BusErrorCodes.Config);
  t.regex(error?.message ?? '', /storage/);
});

test('declared settings are validated', (t) => {
  t.throws(() => desiredStreams({ prefix: 'bad.prefix' }), { instanceOf: BusConfigError });
  t.throws(() => desiredStreams({ maxAgeMs: 1000, duplicateWindowMs: 60_000 }), {
    instanceOf: BusConfigError,
  });
  const prod = desiredStreams({ replicas: 3 });
  t.deepEqual(
    prod.map((s) => s.name),
    ['MEDIA', 'SOCIAL', 'NOTIFICATION', 'DLQ', 'ADVISORIES'],
  );
  t.true(prod.every((s) => s.num_replicas === 3));
  t.deepEqual(prod[0]?.subjects, ['media.>'], 'no prefix in production');
  t.deepEqual(prod[4]?.subjects, [
    '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.MEDIA.*',
    '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.SOCIAL.*',
    '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.NOTIFICATION.*',
  ]);
});
