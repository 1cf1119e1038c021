import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import { createPublisher, type OutboxShard, startConsumer, streamNameFor, withInbox } from '../src/index.ts';
import { CRASH_CONSUMER, crashConsumer } from './fixtures/crash-consumer.ts';
import { effects, type Fixture, openFixture, sampleEvent, silent, waitFor } from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openFixture();
});
test.after.always(async () => {
  await fx?.close();
  await stopTestInfra();
});

function spawnWorker(prefix: string, shard: OutboxShard): ChildProcess {
  const script = fileURLToPath(new URL('./fixtures/consumer-worker.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: {
      ...process.env,
      NATS_URL: fx.ns.nats.servers,
      DATABASE_URL: fx.databaseUrl,
      BUS_PREFIX: prefix,
      SHARD_SCHEMA: shard.schema,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return child;
}

test('a consumer killed mid-handler: the event is redelivered to another instance and takes effect once', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  await fx.sql.unsafe(`CREATE TABLE "${shard.schema}".started (event_id text, mode text, pid int)`);

  const child = spawnWorker(prefix, shard);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor('child consumer ready', () => output.includes('ready'), { timeoutMs: 15_000 });

  const publisher = createPublisher({ nc: fx.nc, prefix });
  const committed = sampleEvent('like.created', { userId: '1' }); // effect committed, never acked
  const open = sampleEvent('like.created', { userId: '2' }); // killed inside its transaction
  await publisher.publish(committed);
  await publisher.publish(open);
  await waitFor('both handlers started in the child', async () => {
    const rows = await fx.sql.unsafe(`SELECT 1 FROM "${shard.schema}".started`);
    return rows.length === 2;
  });

  child.kill('SIGKILL');
  await once(child, 'exit');
  t.is(child.signalCode, 'SIGKILL');

  const survivorRuns: Array<{ id: string; deliveries: number; firstTime: boolean }> = [];
  const survivor = await startConsumer({
    nc: fx.nc,
    prefix,
    logger: silent,
    definition: crashConsumer(async (event, ctx) => {
      const firstTime = await shard.sql.begin(async (tx) => {
        if (!(await withInbox(tx, shard.schema, ctx.consumer, event.id))) return false;
        await tx`INSERT INTO ${tx(`${shard.schema}.effects`)} (event_id, consumer) VALUES (${event.id}, 'survivor')`;
        return true;
      });
      survivorRuns.push({ id: event.id, deliveries: ctx.deliveries, firstTime });
    }),
  });
  t.teardown(() => survivor.stop());
  await waitFor('both events redelivered to the survivor', () => survivorRuns.length === 2, {
    timeoutMs: 10_000,
  });

  const byId = new Map(survivorRuns.map((r) => [r.id, r]));
  t.is(byId.get(committed.id)?.deliveries, 2, 'redelivered after ack_wait');
  t.false(byId.get(committed.id)?.firstTime, 'the inbox says the committed effect is already there');
  t.is(byId.get(open.id)?.deliveries, 2);
  t.true(byId.get(open.id)?.firstTime, 'the killed transaction left nothing behind');
  t.deepEqual(
    [...(await effects(shard))].sort(),
    [
      [committed.id, 1],
      [open.id, 1],
    ].sort(),
    'each event took effect exactly once',
  );
  const info = await waitFor('all acked', async () => {
    const i = await fx.jsm.consumers.info(streamNameFor('SOCIAL', prefix), CRASH_CONSUMER);
    return i.num_ack_pending === 0 ? i : undefined;
  });
  t.is(info.num_pending, 0);
});
