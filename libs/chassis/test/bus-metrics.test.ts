import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createPublisher, enqueue, natsSubjectFor, streamNameFor } from '@instantpost/bus';
import { createEvent } from '@instantpost/events';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { AckPolicy } from 'nats';
import { createServiceApp } from '../src/index.ts';
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

test('/metrics shows the lag of the service’s own consumers, its unsent outbox events and the dead letters', async (t) => {
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
  t.true(body.includes('instantpost_dlq_events{service="upload"} 0'));
});
