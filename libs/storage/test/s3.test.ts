import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ConfigError, loadConfig } from '@instantpost/config';
import { openNamespace, startTcpProxy, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { createS3Client, s3Spec } from '../src/index.ts';

let ns: TestNamespace;
test.before(async () => {
  ns = await openNamespace();
});
test.after.always(async () => {
  await ns.close();
  await stopTestInfra();
});

function clientFor(ns: TestNamespace) {
  const config = loadConfig(s3Spec(), {
    S3_ENDPOINT: ns.s3.endpoint,
    S3_ACCESS_KEY_ID: ns.s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: ns.s3.secretAccessKey,
    S3_BUCKET: ns.s3.bucket,
  });
  return { config, s3: createS3Client(config) };
}

test('objects round-trip through the emulator with their content type and cache control', async (t) => {
  const { config, s3 } = clientFor(ns);
  await s3.send(
    new PutObjectCommand({
      Bucket: config.s3Bucket,
      Key: 'media/1/640.webp',
      Body: Buffer.from('webp bytes'),
      ContentType: 'image/webp',
      CacheControl: 'public, max-age=31536000, immutable',
    }),
  );
  const got = await s3.send(new GetObjectCommand({ Bucket: config.s3Bucket, Key: 'media/1/640.webp' }));
  t.is(await got.Body?.transformToString(), 'webp bytes');
  t.is(got.ContentType, 'image/webp');
  t.is(got.CacheControl, 'public, max-age=31536000, immutable');
  s3.destroy();
});

test('a stream of unknown length uploads in known-length parts and arrives whole', async (t) => {
  const { config, s3 } = clientFor(ns);
  const chunk = Buffer.alloc(1024 * 1024, 1);
  const body = Readable.from(
    (function* () {
      for (let i = 0; i < 11; i++) yield chunk;
    })(),
  );
  await new Upload({
    client: s3,
    params: { Bucket: config.s3Bucket, Key: 'originals/big', Body: body },
  }).done();
  const got = await s3.send(new GetObjectCommand({ Bucket: config.s3Bucket, Key: 'originals/big' }));
  t.is(got.ContentLength, 11 * 1024 * 1024);
  s3.destroy();
});

test('a bad bucket name or endpoint is named at start-up', (t) => {
  const error = t.throws(() => loadConfig(s3Spec(), { S3_ENDPOINT: 'not a url', S3_BUCKET: 'No_Caps' }), {
    instanceOf: ConfigError,
  });
  t.deepEqual(
    error?.problems.map((p) => p.variable),
    ['S3_ENDPOINT', 'S3_BUCKET'],
  );
});

test('a hung S3 fails the request after S3_REQUEST_TIMEOUT_MS instead of holding the caller', async (t) => {
  const endpoint = new URL(ns.s3.endpoint);
  const proxy = await startTcpProxy(endpoint.hostname, Number(endpoint.port));
  t.teardown(() => proxy.close());
  const config = loadConfig(s3Spec(), {
    S3_ENDPOINT: `http://127.0.0.1:${proxy.port}`,
    S3_ACCESS_KEY_ID: ns.s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: ns.s3.secretAccessKey,
    S3_BUCKET: ns.s3.bucket,
    S3_REQUEST_TIMEOUT_MS: '300',
  });
  const s3 = createS3Client(config);
  await s3.send(new PutObjectCommand({ Bucket: config.s3Bucket, Key: 'hang/1', Body: Buffer.from('x') }));
  proxy.stall();
  const err = await t.throwsAsync(s3.send(new GetObjectCommand({ Bucket: config.s3Bucket, Key: 'hang/1' })));
  t.regex(`${err?.name} ${err?.message}`, /timeout|timed out/i);
  await proxy.restore();
  const got = await s3.send(new GetObjectCommand({ Bucket: config.s3Bucket, Key: 'hang/1' }));
  t.is(await got.Body?.transformToString(), 'x', 'the next request, on a new connection, works');
});
