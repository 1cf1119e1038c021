import { pbkdf2, pbkdf2Sync } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import test from 'ava';
import { type Fixture, openFixture, plainImage } from './helpers.ts';

const ACK_WAIT_MS = 1000;
const POOL_THREADS = 4; // libuv's default UV_THREADPOOL_SIZE, where sharp runs its jobs
let fx: Fixture;

test.before(async () => {
  fx = await openFixture({ MEDIA_ACK_WAIT_MS: String(ACK_WAIT_MS), MEDIA_CONCURRENCY: '1' });
});
test.after.always(async () => {
  await fx?.close();
});

/**
 * Occupies every libuv pool thread for about `ms` (async pbkdf2 runs there, not on the event loop), so
 * image work queued behind it takes that long while the event loop stays free: a slow image made
 * deterministic on any machine.
 */
function busyPool(ms: number): Promise<unknown> {
  const probe = 20_000;
  const started = performance.now();
  pbkdf2Sync('p', 's', probe, 64, 'sha512');
  const iterations = Math.ceil((probe * ms) / Math.max(1, performance.now() - started));
  return Promise.all(
    Array.from(
      { length: POOL_THREADS },
      () =>
        new Promise((resolve, reject) =>
          pbkdf2('p', 's', iterations, 64, 'sha512', (e, k) => (e ? reject(e) : resolve(k))),
        ),
    ),
  );
}

test('image work waits off the event loop while heartbeats keep its event from being redelivered', async (t) => {
  const uploads = [];
  for (const seed of [1, 2]) uploads.push(await fx.upload(await plainImage(1200 + seed, 900, 'png')));
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const durations: number[] = [];
  // One event at a time: an event the runner has fetched but not started is not heartbeated (see README),
  // so this measures the handler alone.
  for (const u of uploads) {
    const started = Date.now();
    const busy = busyPool(ACK_WAIT_MS);
    await fx.publishUploaded(u);
    await fx.waitForEvent('media.processed', u.data.mediaId, 120_000);
    durations.push(Date.now() - started);
    await busy;
  }
  loop.disable();
  t.true(
    Math.min(...durations) > ACK_WAIT_MS,
    `each image took longer than ack_wait: ${durations.join(', ')} ms`,
  );
  for (const u of uploads) {
    const record = await fx.manifest.find(u.data.mediaId);
    t.is(record?.attempts, 1, `media ${u.data.mediaId} delivered once: working() kept its ack timer alive`);
  }
  const maxLagMs = loop.max / 1e6;
  t.log(`durations ${durations.join(', ')} ms, max event-loop lag ${maxLagMs.toFixed(0)} ms`);
  t.true(maxLagMs < ACK_WAIT_MS / 2, `the event loop never stalled: max lag ${maxLagMs.toFixed(0)} ms`);
});
