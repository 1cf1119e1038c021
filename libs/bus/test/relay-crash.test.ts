import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import {
  createPublisher,
  defineConsumer,
  enqueue,
  handleOnce,
  outboxStatus,
  startConsumer,
  startOutboxRelay,
} from '../src/index.ts';
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

test('a relay killed between publish and mark causes no duplicate effect downstream', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const consumerShard = await fx.shard();
  const events = [sampleEvent('like.created'), sampleEvent('like.created'), sampleEvent('comment.created')];
  await shard.sql.begin((tx) => enqueue(tx, shard.schema, events));

  // downstream: an idempotent consumer recording each effect
  let calls = 0;
  const consumer = await startConsumer({
    nc: fx.nc,
    prefix,
    logger: silent,
    definition: defineConsumer({
      name: 'notification-inbox',
      subjects: ['like.created', 'comment.created'],
      handlers: {
        'like.created': async (event, ctx) => {
          calls++;
          await handleOnce(consumerShard, ctx.consumer, event.id, async (tx) => {
            await tx`INSERT INTO ${tx(`${consumerShard.schema}.effects`)} (event_id, consumer) VALUES (${event.id}, ${ctx.consumer})`;
          });
        },
        'comment.created': async (event, ctx) => {
          calls++;
          await handleOnce(consumerShard, ctx.consumer, event.id, async (tx) => {
            await tx`INSERT INTO ${tx(`${consumerShard.schema}.effects`)} (event_id, consumer) VALUES (${event.id}, ${ctx.consumer})`;
          });
        },
      },
      settings: fast,
    }),
  });
  t.teardown(() => consumer.stop());

  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./fixtures/relay-worker.ts', import.meta.url))],
    {
      env: {
        ...process.env,
        NATS_URL: fx.ns.nats.servers,
        DATABASE_URL: fx.databaseUrl,
        BUS_PREFIX: prefix,
        SHARD_SCHEMA: shard.schema,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor('child relay published a batch', () => output.includes('published '), { timeoutMs: 15_000 });
  child.kill('SIGKILL');
  await once(child, 'exit');

  t.is(await storedCount(fx.jsm, prefix, 'SOCIAL'), 3, 'the killed relay did publish');
  // calls are counted before the handler's transaction: wait for the effects themselves
  await waitFor('consumer handled the first copies', async () => (await effects(consumerShard)).size === 3);
  t.is(calls, 3);
  t.deepEqual(await outboxStatus(shard), { unsent: 3, sent: 0 }, 'but never marked them sent');

  const relay = await startOutboxRelay({
    shards: [shard],
    publisher: createPublisher({ nc: fx.nc, prefix }),
    logger: silent,
  });
  t.teardown(() => relay.stop());
  await relay.flush(10_000);
  t.is(relay.stats().published, 3);
  t.is(relay.stats().duplicates, 3, 'the stream recognised every republished id');
  t.is(await storedCount(fx.jsm, prefix, 'SOCIAL'), 3, 'nothing stored twice');
  const effect = await effects(consumerShard);
  t.deepEqual([...effect.values()], [1, 1, 1]);
  t.deepEqual([...effect.keys()].sort(), events.map((e) => e.id).sort());
});
