import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import { createPublisher, type OutboxShard, streamNameFor } from '../src/index.ts';
import { CRASH_LOOP_CONSUMER, crashLoopSettings, POISON_USER } from './fixtures/crash-loop-consumer.ts';
import { effects, type Fixture, openFixture, readDeadLetters, sampleEvent, waitFor } from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openFixture();
});
test.after.always(async () => {
  await fx?.close();
  await stopTestInfra();
});

/** Runs the worker as a service's supervisor would: started again each time it dies. */
function superviseWorker(prefix: string, shard: OutboxShard) {
  const script = fileURLToPath(new URL('./fixtures/crash-loop-worker.ts', import.meta.url));
  let child: ChildProcess | undefined;
  let stopped = false;
  let crashes = 0;
  let readyCount = 0;
  const start = () => {
    const c = spawn(process.execPath, ['--import', 'tsx', script], {
      env: {
        ...process.env,
        NATS_URL: fx.ns.nats.servers,
        DATABASE_URL: fx.databaseUrl,
        BUS_PREFIX: prefix,
        SHARD_SCHEMA: shard.schema,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    c.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) readyCount++;
    });
    c.on('exit', (code) => {
      if (stopped) return;
      if (code === 1) crashes++;
      start();
    });
    child = c;
  };
  start();
  return {
    crashes: () => crashes,
    ready: () => readyCount,
    async stop() {
      stopped = true;
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

test('a handler that crashes its process on one event: after maxDeliver deliveries it is in DLQ, the others are handled', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const worker = superviseWorker(prefix, shard);
  t.teardown(() => worker.stop());
  await waitFor('worker ready', () => worker.ready() === 1, { timeoutMs: 30_000 });

  const publisher = createPublisher({ nc: fx.nc, prefix });
  const poison = sampleEvent('like.created', { userId: POISON_USER });
  const good = Array.from({ length: 6 }, (_, i) => sampleEvent('like.created', { userId: String(100 + i) }));
  for (const event of good.slice(0, 3)) await publisher.publish(event);
  await publisher.publish(poison);
  await waitFor('the poison kills the worker', () => worker.crashes() === 1, { timeoutMs: 30_000 });
  for (const event of good.slice(3)) await publisher.publish(event); // published while it crash-loops

  const letters = await waitFor(
    'the poison dead-lettered',
    async () => {
      const l = await readDeadLetters(fx.jsm, prefix);
      return l.length > 0 ? l : undefined;
    },
    { timeoutMs: 90_000 },
  );
  t.is(letters.length, 1);
  const letter = letters[0]?.letter;
  t.is(letter?.error.code, 'MAX_DELIVERIES');
  t.regex(letter?.error.message ?? '', /^max deliveries exceeded/);
  t.deepEqual(letter?.event, poison, 'the original event, ready to replay');
  t.is(letter?.consumer, CRASH_LOOP_CONSUMER);
  t.is(letter?.subject, 'like.created');
  t.is(letter?.deliveries, crashLoopSettings.maxDeliver);
  // At most one crash per delivery, none after the last. Fewer is possible on a loaded machine: a delivery
  // whose ack_wait ran out while the worker was still starting counts without reaching the handler.
  const crashes = worker.crashes();
  t.true(crashes >= 1 && crashes <= crashLoopSettings.maxDeliver, `${crashes} crashes`);

  const handled = await waitFor(
    'every other event handled',
    async () => {
      const e = await effects(shard);
      return good.every((event) => e.has(event.id)) ? e : undefined;
    },
    { timeoutMs: 60_000 },
  );
  t.deepEqual([...handled.keys()].sort(), good.map((e) => e.id).sort(), 'the poison had no effect');
  t.true(
    [...handled.values()].every((n) => n === 1),
    'each exactly once despite the crashes',
  );
  await waitFor('nothing left pending', async () => {
    const info = await fx.jsm.consumers.info(streamNameFor('SOCIAL', prefix), CRASH_LOOP_CONSUMER);
    return info.num_ack_pending === 0 && info.num_pending === 0;
  });
  t.is(worker.crashes(), crashes, 'no crash after the event was dead-lettered');
  t.is((await readDeadLetters(fx.jsm, prefix)).length, 1, 'dead-lettered once');
});
