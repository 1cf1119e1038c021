import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createPublisher, defineConsumer, enqueue, natsSubjectFor, streamNameFor } from '@instantpost/bus';
import { createEvent } from '@instantpost/events';
import { openNamespace, stopTestInfra, type TestNamespace, waitFor } from '@instantpost/testing';
import test from 'ava';
import { AckPolicy } from 'nats';
import { createServiceApp, DLQ_METRIC_OWNER, startEventWork } from '../src/index.ts';
import { makeTestKeys, openTestService, type TestService } from '../src/testing.ts';

let ns: TestNamespace;
let svc: TestService<Record<string, never>>;
let migrations: string;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  migrations = mkdtempSync(join(tmpdir(), 'chassis-migrations-'));
  svc = await openTestService({
    service: 'upload',
    ns,
    keys: makeTestKeys(),
    spec: {},
    migrations: pathToFileURL(`${migrations}/`),
    build: async (ctx) => ({ app: await createServiceApp('upload', ctx) }),
  });
});
test.after.always(async () => {
  await svc?.close();
  await ns?.close();
  await stopTestInfra();
  rmSync(migrations, { recursive: true, force: true });
});

const like = () =>
  createEvent('like.created', { postId: '1', postAuthorId: '2', userId: '3' }, { source: '/test' });

test.serial(
  '/metrics shows the lag of the service’s own consumers and its unsent outbox events and their age',
  async (t) => {
    const social = streamNameFor('SOCIAL', ns.nats.prefix);
    for (const durable of ['upload-likes', 'feed-likes']) {
      await svc.infra.jsm.consumers.add(social, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        filter_subject: natsSubjectFor('like.created', ns.nats.prefix),
      });
    }
    const publisher = createPublisher({ nc: svc.infra.nc, prefix: ns.nats.prefix });
    for (let i = 0; i < 3; i++) await publisher.publish(like());
    const shard = svc.infra.shards.forShard(9);
    await shard.sql.begin((tx) => enqueue(tx, shard.schema, [like(), like()]));

    const res = await svc.app.inject({ url: '/metrics' });
    t.is(res.statusCode, 200);
    const body = res.body;
    t.true(
      body.includes(
        `instantpost_consumer_pending_events{consumer="upload-likes",stream="${social}",service="upload"} 3`,
      ),
      'three events not yet delivered to upload-likes',
    );
    t.false(body.includes('consumer="feed-likes"'), "another service's consumer is not reported");
    t.true(
      body.includes(
        `instantpost_consumer_ack_pending_events{consumer="upload-likes",stream="${social}",service="upload"} 0`,
      ),
    );
    t.true(
      body.includes('instantpost_outbox_unsent_events{service="upload"} 2'),
      'two events waiting in an outbox',
    );
    const age = /^instantpost_outbox_oldest_unsent_seconds\{service="upload"\} (\S+)$/m.exec(body)?.[1];
    t.true(Number(age) > 0, `the oldest unsent event's age: ${age}`);
    t.false(body.includes('instantpost_dlq_events'), `only ${DLQ_METRIC_OWNER} exports the DLQ's size`);
  },
);

test.serial("each delivery to the service's consumers is timed and counted by outcome", async (t) => {
  const work = await startEventWork(svc.ctx, {
    consumers: [
      defineConsumer({
        name: 'upload-counted',
        subjects: ['like.created'],
        handlers: { 'like.created': async () => {} },
      }),
    ],
  });
  t.teardown(() => work.stop());
  const publisher = createPublisher({ nc: svc.infra.nc, prefix: ns.nats.prefix });
  await publisher.publish(like());
  const acked =
    'instantpost_consumer_outcomes_total{consumer="upload-counted",outcome="acked",service="upload"}';
  const body = await waitFor('the delivery counted', async () => {
    const text = (await svc.app.inject({ url: '/metrics' })).body;
    return new RegExp(`^${acked.replace(/[{}]/g, '\\$&')} [1-9]`, 'm').test(text) ? text : undefined;
  });
  const count = body
    .split('\n')
    .find(
      (l) =>
        l.startsWith('instantpost_consumer_handle_seconds_count{') && l.includes('consumer="upload-counted"'),
    );
  t.true(count?.includes('subject="like.created"'), count);
  t.true(Number(count?.split(' ')[1]) >= 1, 'the deliveries are timed');
});

test.serial("the DLQ's size comes from one service", async (t) => {
  const owner = await openTestService({
    service: DLQ_METRIC_OWNER,
    ns,
    keys: makeTestKeys(),
    spec: {},
    migrations: pathToFileURL(`${migrations}/`),
    build: async (ctx) => ({ app: await createServiceApp(DLQ_METRIC_OWNER, ctx) }),
  });
  t.teardown(() => owner.close());
  const body = (await owner.app.inject({ url: '/metrics' })).body;
  t.true(body.includes(`instantpost_dlq_events{service="${DLQ_METRIC_OWNER}"} 0`));
});
