import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { openNamespace, s3ClientFor, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { type Gateway, startGateway } from '../src/nginx.ts';
import { freePort } from '../src/ports.ts';

let ns: TestNamespace;
let gateway: Gateway;
let upstream: Server;
const seen: Array<{ url: string; requestId: string | undefined }> = [];
let workDir: string;

test.before(async () => {
  ns = await openNamespace();
  workDir = mkdtempSync(join(tmpdir(), 'instantpost-gw-'));
  // One stand-in HTTP upstream for every service: it records what the gateway forwards.
  upstream = createServer((req, res) => {
    seen.push({ url: req.url ?? '', requestId: req.headers['x-request-id'] as string | undefined });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const at = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  gateway = await startGateway({
    workDir,
    listen: await freePort(),
    upstreams: { upload: [at], 'media-processing': [at], metadata: [at], feed: [at], notification: [at] },
    s3: { endpoint: ns.s3.endpoint, bucket: ns.s3.bucket },
    uploadMaxBytes: 1024 * 1024,
    accessLog: true,
  });
});
test.after.always(async () => {
  await gateway?.stop();
  upstream?.close();
  await ns?.close();
  await stopTestInfra();
  rmSync(workDir, { recursive: true, force: true });
});

test('a rendition is served from S3, then from the cache, with the same ETag and long-lived caching', async (t) => {
  const s3 = s3ClientFor(ns.s3);
  await s3.send(
    new PutObjectCommand({
      Bucket: ns.s3.bucket,
      Key: 'media/7301234567890123456/640.jpg',
      Body: Buffer.from('not really a jpeg'),
      ContentType: 'image/jpeg',
    }),
  );
  s3.destroy();
  const first = await fetch(`${gateway.url}/media/7301234567890123456/640.jpg`);
  t.is(first.status, 200);
  t.is(await first.text(), 'not really a jpeg');
  t.is(first.headers.get('x-cache-status'), 'MISS');
  t.is(first.headers.get('content-type'), 'image/jpeg');
  t.regex(first.headers.get('cache-control') ?? '', /max-age=31536000.*immutable/);
  const etag = first.headers.get('etag');
  t.truthy(etag);

  const second = await fetch(`${gateway.url}/media/7301234567890123456/640.jpg`);
  t.is(second.status, 200);
  t.is(second.headers.get('x-cache-status'), 'HIT');
  t.is(second.headers.get('etag'), etag);
  await second.arrayBuffer();
});

test('missing media and paths outside media/ are 404 problem+json, never originals', async (t) => {
  for (const path of [
    '/media/1/640.jpg',
    '/media/../originals/1',
    '/media/1/640.png',
    '/media/originals/1.jpg',
  ]) {
    const res = await fetch(`${gateway.url}${path}`);
    t.is(res.status, 404, path);
    t.regex(res.headers.get('content-type') ?? '', /problem\+json/, path);
    await res.arrayBuffer();
  }
});

test('API paths are routed by prefix and carry a request id', async (t) => {
  for (const path of ['/v1/feed', '/v1/media', '/v1/accounts', '/v1/users/1/follow', '/v1/notifications']) {
    const res = await fetch(`${gateway.url}${path}`, { headers: { 'x-request-id': `rid-${path.length}` } });
    t.is(res.status, 200, path);
    t.deepEqual(await res.json(), { url: path });
    t.is(res.headers.get('x-request-id'), `rid-${path.length}`);
  }
  t.true(seen.every((s) => typeof s.requestId === 'string' && s.requestId.length > 0));
  const unknown = await fetch(`${gateway.url}/v1/unknown`);
  t.is(unknown.status, 404);
  await unknown.arrayBuffer();
});

test('a body over the upload limit is refused by the gateway with 413', async (t) => {
  const res = await fetch(`${gateway.url}/v1/media`, {
    method: 'POST',
    body: Buffer.alloc(3 * 1024 * 1024),
    headers: { 'content-type': 'application/octet-stream' },
  });
  t.is(res.status, 413);
  await res.arrayBuffer();
});

test('the access log keeps paths and request ids but never query strings (stream tokens)', async (t) => {
  const res = await fetch(`${gateway.url}/v1/notifications/stream?access_token=s3cret-token`, {
    headers: { 'x-request-id': 'log-check-1' },
  });
  t.is(res.status, 200);
  await res.text();
  const log = await eventuallyRead(join(workDir, 'access.log'), 'log-check-1');
  t.regex(log, /GET \/v1\/notifications\/stream HTTP\/1\.1" 200 .* rid=log-check-1/);
  t.false(log.includes('s3cret-token'));
});

async function eventuallyRead(file: string, needle: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (text.includes(needle)) return text;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}
