import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { reportedPort } from '@instantpost/testing';
import test from 'ava';
import sharp from 'sharp';
import { type Fixture, openFixture, sleep, waitFor } from './helpers.ts';

let fx: Fixture;
const children = new Set<ChildProcess>();

test.before(async () => {
  // The service runs in child processes here (so it can be SIGKILLed); ack_wait 2 s so the event of the
  // killed worker is redelivered quickly.
  fx = await openFixture({ MEDIA_ACK_WAIT_MS: '2000', MEDIA_CONCURRENCY: '1' }, { inProcess: false });
});
test.after.always(async () => {
  for (const child of children) child.kill('SIGKILL');
  await fx?.close();
});

/**
 * Starts `src/main.ts` with the namespace's environment on a port it picks itself (PORT=0, reported over
 * IPC: a port picked here could be taken before the child binds it) and waits until it answers /readyz.
 * A child that exits or never gets ready fails the test with the end of its output (its log).
 */
async function startWorker(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, ...fx.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // Loading a service under CI's load (the whole suite on two cores) took over the default 10 s once; the
  // local stack allows 90 s for the same start (deploy/local ServiceProcess.start).
  const timeoutMs = 90_000;
  try {
    const port = await reportedPort(child, timeoutMs);
    await waitFor(
      'the restarted worker to be ready',
      async () => {
        if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
        const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
        return res?.ok ? true : undefined;
      },
      { timeoutMs },
    );
  } catch (err) {
    throw new Error(
      `worker did not start: ${(err as Error).message}\n--- the end of its output:\n${output}`,
      {
        cause: err,
      },
    );
  }
  return child;
}

test('a worker SIGKILLed mid-image: after a restart the upload is processed exactly once in effect', async (t) => {
  const [w, h] = [6000, 4500];
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7) & 255;
  const uploaded = await fx.upload(
    await sharp(px, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toBuffer(),
  );
  const first = await startWorker();
  await fx.publishUploaded(uploaded);
  // The handler has started (attempt recorded) and is downloading or decoding: kill it there.
  await waitFor('the processing attempt to be recorded', async () =>
    (await fx.manifest.find(uploaded.data.mediaId))?.attempts ? true : undefined,
  );
  first.kill('SIGKILL');
  await new Promise((resolve) => first.once('exit', resolve));
  const early = (await fx.events('media.processed')).filter((e) => e.data.mediaId === uploaded.data.mediaId);
  t.is(early.length, 0, 'killed before it published anything');

  await startWorker();
  const processed = await fx.waitForEvent('media.processed', uploaded.data.mediaId);
  t.is(processed.data.renditions.length, 8);
  await sleep(2500); // past another ack_wait: nothing else arrives
  const all = (await fx.events('media.processed')).filter((e) => e.data.mediaId === uploaded.data.mediaId);
  t.is(all.length, 1, 'one media.processed');
  t.is((await fx.renditionKeys(uploaded.data.mediaId)).length, 8, 'eight renditions, no leftovers');
  const record = await fx.manifest.find(uploaded.data.mediaId);
  t.is(record?.status, 'processed');
  // The killed attempt, then the redelivery (a loaded machine may add one more redelivery: still one effect).
  t.true((record?.attempts ?? 0) >= 2, `redelivered after the kill: ${record?.attempts} attempts`);
});
