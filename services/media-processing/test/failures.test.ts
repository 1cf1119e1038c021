import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { startTcpProxy, type TcpProxy } from '@instantpost/testing';
import test from 'ava';
import { processDeps } from '../src/app.ts';
import { reprocessMedia } from '../src/domain/reprocess.ts';
import { type Fixture, openFixture, plainImage, waitFor } from './helpers.ts';

let fx: Fixture;
let proxy: TcpProxy;

test.before(async () => {
  fx = await openFixture(async (ns) => {
    const target = new URL(ns.s3.endpoint);
    proxy = await startTcpProxy(target.hostname, Number(target.port));
    return {
      // The service reaches S3 through a proxy the tests can cut.
      S3_ENDPOINT: `http://127.0.0.1:${proxy.port}`,
      MEDIA_MAX_DELIVER: '5',
      MEDIA_RETRY_INITIAL_MS: '300',
      MEDIA_MAX_PIXELS: '1000000',
    };
  });
});
test.after.always(async () => {
  await fx?.close();
  await proxy?.close();
});

test.serial('S3 unreachable: the event is retried with backoff and processed once S3 is back', async (t) => {
  const uploaded = await fx.upload(await plainImage(800, 600, 'jpeg'));
  await proxy.cut();
  try {
    await fx.publishUploaded(uploaded);
    const failing = await waitFor('the processing attempts to be recorded', async () => {
      const record = await fx.manifest.find(uploaded.data.mediaId);
      return record && record.attempts >= 3 && record.lastError ? record : undefined;
    });
    // Three deliveries started: at least two failed, with backoff between them.
    t.is(failing.status, 'processing', 'a network failure is not a rejection');
    t.truthy(failing.lastError, `the failure is kept for operators: ${failing.lastError}`);
  } finally {
    await proxy.restore();
  }
  const processed = await fx.waitForEvent('media.processed', uploaded.data.mediaId);
  t.is(processed.data.renditions.length, 8);
  const record = await fx.manifest.find(uploaded.data.mediaId);
  t.is(record?.status, 'processed');
  t.true((record?.attempts ?? 0) >= 3, `retried: ${record?.attempts} attempts`);
  const rejected = (await fx.events('media.rejected')).filter(
    (e) => e.data.mediaId === uploaded.data.mediaId,
  );
  t.is(rejected.length, 0, 'never rejected');
});

test.serial(
  'original missing: retried with backoff (it may be a lagging replica), rejected on the last delivery',
  async (t) => {
    const uploaded = await fx.upload(await plainImage(300, 200, 'png'));
    await fx.s3.send(new DeleteObjectCommand({ Bucket: fx.ns.s3.bucket, Key: uploaded.data.key }));
    const started = Date.now();
    await fx.publishUploaded(uploaded);
    const rejected = await fx.waitForEvent('media.rejected', uploaded.data.mediaId);
    t.regex(rejected.data.reason, /could not be found/);
    const record = await fx.manifest.find(uploaded.data.mediaId);
    t.is(record?.attempts, 5, 'every delivery was tried (MEDIA_MAX_DELIVER=5)');
    // 300 + 600 + 1200 + 2400 ms of backoff, ±20 %
    t.true(Date.now() - started >= 3500, `backed off between tries: ${Date.now() - started} ms`);
    t.deepEqual(await fx.renditionKeys(uploaded.data.mediaId), []);
  },
);

test.serial(
  'operator command: re-processing restores deleted renditions without a second media.processed',
  async (t) => {
    const uploaded = await fx.upload(await plainImage(640, 480, 'webp'));
    await fx.publishUploaded(uploaded);
    const first = await fx.waitForEvent('media.processed', uploaded.data.mediaId);
    const keys = await fx.renditionKeys(uploaded.data.mediaId);
    t.is(keys.length, 8);
    for (const key of keys) await fx.s3.send(new DeleteObjectCommand({ Bucket: fx.ns.s3.bucket, Key: key }));

    const run = await runReprocess([uploaded.data.mediaId, '999']);
    t.is(run.code, 1, `one media unknown: exit 1\n${run.stderr}`);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { mediaId: string; status: string; error?: string });
    t.is(lines[0]?.status, 'processed');
    t.is(lines[1]?.status, 'failed');
    t.regex(lines[1]?.error ?? '', /no record of media 999/);

    t.deepEqual(await fx.renditionKeys(uploaded.data.mediaId), keys, 'the same eight keys are back');
    const processed = (await fx.events('media.processed')).filter(
      (e) => e.data.mediaId === uploaded.data.mediaId,
    );
    t.deepEqual(
      processed.map((e) => e.id),
      [first.id],
      'the same result republished under the same id: stored once',
    );
  },
);

test.serial(
  'operator re-run of a rejected image after the limit is raised publishes media.processed',
  async (t) => {
    const uploaded = await fx.upload(await plainImage(1200, 1000, 'jpeg'));
    await fx.publishUploaded(uploaded);
    const rejected = await fx.waitForEvent('media.rejected', uploaded.data.mediaId);
    t.regex(rejected.data.reason, /1200×1000 pixels \(at most 1 megapixels\)/);

    const deps = processDeps(fx.ctx);
    try {
      const outcome = await reprocessMedia(
        { ...deps, limits: { ...deps.limits, maxPixels: 2_000_000 } },
        uploaded.data.mediaId,
      );
      t.is(outcome.status, 'processed');
    } finally {
      deps.close();
    }
    const processed = await fx.waitForEvent('media.processed', uploaded.data.mediaId);
    t.deepEqual([processed.data.width, processed.data.height], [1200, 1000]);
    t.is((await fx.manifest.find(uploaded.data.mediaId))?.status, 'processed');
  },
);

function runReprocess(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cwd = fileURLToPath(new URL('..', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/reprocess.ts', '--', ...args], {
    cwd,
    env: { ...process.env, ...fx.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}
