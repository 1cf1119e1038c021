import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get as httpGet, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { signedMediaUrl } from '@instantpost/media-urls';
import { openNamespace, s3ClientFor, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { type Gateway, GatewayPortTaken, startGateway } from '../src/nginx.ts';
import { committedOpenApi } from '../src/openapi.ts';
import { freePort, reservePort } from '../src/ports.ts';

let ns: TestNamespace;
let gateway: Gateway;
let upstream: Server;
const seen: Array<{ url: string; requestId: string | undefined }> = [];
let workDir: string;
/** A built web client as Vite lays it out: index.html naming a hashed script. */
const INDEX_HTML =
  '<!doctype html><title>InstantPost</title><script type="module" src="/assets/index-Ab12Cd34.js"></script>';
const SCRIPT = 'console.log("app")';
const KEY = randomBytes(32).toString('hex');
const HOUR = 3600;
const PAGE = JSON.stringify({
  items: Array.from({ length: 20 }, (_, i) => ({ id: String(i), caption: `post ${i} `.repeat(100) })),
  nextCursor: null,
});
/** The gzip a service made once for a kept page (libs/http `sendJson`). */
const KEPT_GZIP = gzipSync(PAGE, { level: 9 });
let upstreamConnections = 0;
/** A URL as the API hands it out, valid for `validFor` more seconds. */
const signed = (path: string, validFor = 24 * HOUR) =>
  signedMediaUrl(`${gateway.url}/media`, KEY, path, Math.floor(Date.now() / 1000) + validFor);

test.before(async () => {
  ns = await openNamespace();
  workDir = mkdtempSync(join(tmpdir(), 'instantpost-gw-'));
  const webRoot = join(workDir, 'web');
  mkdirSync(join(webRoot, 'assets'), { recursive: true });
  writeFileSync(join(webRoot, 'index.html'), INDEX_HTML);
  writeFileSync(join(webRoot, 'assets/index-Ab12Cd34.js'), SCRIPT);
  // One stand-in HTTP upstream for every service: it records what the gateway forwards.
  upstream = createServer((req, res) => {
    seen.push({ url: req.url ?? '', requestId: req.headers['x-request-id'] as string | undefined });
    // `?kept`: a page the service keeps, gzipped by the service itself for a client that takes gzip.
    if (req.url?.endsWith('?kept') && String(req.headers['accept-encoding']).includes('gzip')) {
      res
        .writeHead(200, {
          'content-type': 'application/json; charset=utf-8',
          'content-encoding': 'gzip',
          vary: 'Accept-Encoding',
        })
        .end(KEPT_GZIP);
      return;
    }
    // `?page`: a feed-page-sized JSON reply (~24 KB).
    const body =
      req.url?.endsWith('?page') || req.url?.endsWith('?kept') ? PAGE : JSON.stringify({ url: req.url });
    // Echoes the request id as the services do (the client must still get the header once).
    const echo = req.headers['x-request-id'];
    res
      .writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        ...(typeof echo === 'string' ? { 'x-request-id': echo } : {}),
      })
      .end(body);
  });
  upstream.on('connection', () => upstreamConnections++);
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const at = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  gateway = await startGateway({
    workDir,
    listen: await freePort(),
    upstreams: { upload: [at], 'media-processing': [at], metadata: [at], feed: [at], notification: [at] },
    s3: { endpoint: ns.s3.endpoint, bucket: ns.s3.bucket },
    uploadMaxBytes: 1024 * 1024,
    accessLog: true,
    mediaUrlSigningKey: KEY,
    webRoot,
  });
});
test.after.always(async () => {
  await gateway?.stop();
  upstream?.close();
  await ns?.close();
  await stopTestInfra();
  rmSync(workDir, { recursive: true, force: true });
});

test('a signed rendition URL is served from S3, then from the cache whatever the signature, with one ETag', async (t) => {
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
  const first = await fetch(signed('7301234567890123456/640.jpg'));
  t.is(first.status, 200);
  t.is(await first.text(), 'not really a jpeg');
  t.is(first.headers.get('x-cache-status'), 'MISS');
  t.is(first.headers.get('content-type'), 'image/jpeg');
  t.regex(first.headers.get('cache-control') ?? '', /^private, max-age=86400/);
  const etag = first.headers.get('etag');
  t.truthy(etag);

  // Another expiry, so another signature: the cache key is the path, so it still hits.
  const second = await fetch(signed('7301234567890123456/640.jpg', 25 * HOUR));
  t.is(second.status, 200);
  t.is(second.headers.get('x-cache-status'), 'HIT');
  t.is(second.headers.get('etag'), etag);
  await second.arrayBuffer();

  const plain = await fetch(`${gateway.url}/media/7301234567890123456/640.jpg`);
  t.is(plain.status, 403, 'the cached file is not served without a signature');
  t.regex(plain.headers.get('content-type') ?? '', /problem\+json/);
  t.like(await plain.json(), { status: 403, code: 'MEDIA_URL_INVALID' });
});

test('unsigned, tampered, foreign, re-encoded and expired URLs get 403 problem+json without reaching S3', async (t) => {
  const path = '7301234567890123457/thumb.webp';
  const s3 = s3ClientFor(ns.s3);
  await s3.send(
    new PutObjectCommand({
      Bucket: ns.s3.bucket,
      Key: `media/${path}`,
      Body: 'x',
      ContentType: 'image/webp',
    }),
  );
  s3.destroy();
  const good = new URL(signed(path));
  const e = good.searchParams.get('e') as string;
  const s = good.searchParams.get('s') as string;
  const flipped = `${s.slice(0, 5)}${s[5] === 'a' ? 'b' : 'a'}${s.slice(6)}`;
  const other = new URL(signed('7301234567890123457/thumb.jpg'));
  const refused = [
    `/media/${path}`,
    `/media/${path}?e=${e}`,
    `/media/${path}?e=${e}&s=${flipped}`,
    `/media/${path}?e=${Number(e) + 60}&s=${s}`,
    `/media/${path}?e=${e}&s=${other.searchParams.get('s')}`,
    `/media/${path}?e=${e}&s=${s}%3D`,
    `/media/${path}?e=${e}&s=${s}=`,
    `/media/${path}?e=0${e}&s=${s}`,
    new URL(signedMediaUrl(`${gateway.url}/media`, `${KEY}0`, path, Number(e))).pathname +
      new URL(signedMediaUrl(`${gateway.url}/media`, `${KEY}0`, path, Number(e))).search,
    new URL(signed(path, -1)).pathname + new URL(signed(path, -1)).search,
  ];
  for (const url of refused) {
    const res = await fetch(`${gateway.url}${url}`);
    t.is(res.status, 403, url);
    t.regex(res.headers.get('content-type') ?? '', /problem\+json/, url);
    t.is(res.headers.get('x-cache-status'), null, `${url} never reached the cache`);
    await res.arrayBuffer();
  }
  const ok = await fetch(good);
  t.is(ok.status, 200);
  t.is(await ok.text(), 'x');
});

test('missing media and paths outside media/ are 404 problem+json, never originals', async (t) => {
  for (const path of [
    new URL(signed('1/640.jpg')).pathname + new URL(signed('1/640.jpg')).search,
    '/media/1/640.png',
    '/media/originals/1.jpg',
  ]) {
    const res = await fetch(`${gateway.url}${path}`);
    t.is(res.status, 404, path);
    t.regex(res.headers.get('content-type') ?? '', /problem\+json/, path);
    await res.arrayBuffer();
  }
  // Resolved to /originals/1 before it leaves the client: outside /v1 and /media every path is now a route
  // of the web client, so the answer is its index.html, never a file of the bucket.
  const dotted = await fetch(`${gateway.url}/media/../originals/1`);
  t.is(dotted.status, 200);
  t.regex(dotted.headers.get('content-type') ?? '', /^text\/html/);
  t.is(await dotted.text(), INDEX_HTML);
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

test.serial(
  'JSON pages are gzipped for clients that ask, sent as they are otherwise; upstream connections are kept',
  async (t) => {
    const get = (encoding?: string, path = '/v1/feed?page') =>
      new Promise<{ headers: IncomingHttpHeaders; bytes: Buffer }>((resolve, reject) => {
        httpGet(
          `${gateway.url}${path}`,
          { headers: encoding ? { 'accept-encoding': encoding } : {} },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ headers: res.headers, bytes: Buffer.concat(chunks) }));
          },
        ).on('error', reject);
      });
    const zipped = await get('gzip, br');
    t.is(zipped.headers['content-encoding'], 'gzip');
    t.is(gunzipSync(zipped.bytes).toString(), PAGE);
    t.true(zipped.bytes.length < PAGE.length / 4, `${zipped.bytes.length} of ${PAGE.length} bytes`);
    const plain = await get();
    t.is(plain.headers['content-encoding'], undefined);
    t.is(plain.bytes.toString(), PAGE);
    // A page the service gzipped itself passes through as it is: not compressed again, not unzipped.
    const kept = await get('gzip', '/v1/feed?kept');
    t.is(kept.headers['content-encoding'], 'gzip');
    t.deepEqual(kept.bytes, KEPT_GZIP);

    const before = upstreamConnections;
    for (let i = 0; i < 30; i++) await get();
    t.true(
      upstreamConnections - before <= 1,
      `${upstreamConnections - before} new upstream connections for 30 requests`,
    );
  },
);

test('the web client: index.html at / and at every client route, never cached; hashed assets cached for a year', async (t) => {
  for (const path of ['/', '/new', '/notifications', '/u/alice', '/p/7301234567890123456']) {
    const res = await fetch(`${gateway.url}${path}`);
    t.is(res.status, 200, path);
    t.regex(res.headers.get('content-type') ?? '', /^text\/html/, path);
    t.is(res.headers.get('cache-control'), 'no-cache', `${path}: revalidated on every load`);
    t.truthy(res.headers.get('etag'), path);
    t.regex(res.headers.get('content-security-policy') ?? '', /default-src 'self'/, path);
    t.truthy(res.headers.get('x-request-id'), path);
    t.is(await res.text(), INDEX_HTML, path);
  }
  const script = await fetch(`${gateway.url}/assets/index-Ab12Cd34.js`);
  t.is(script.status, 200);
  t.regex(script.headers.get('content-type') ?? '', /^text\/javascript/);
  t.is(script.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  t.is(await script.text(), SCRIPT);

  const missing = await fetch(`${gateway.url}/assets/index-Zz99Zz99.js`);
  t.is(missing.status, 404, 'a missing asset is not answered with index.html');
  t.regex(missing.headers.get('content-type') ?? '', /problem\+json/);
  await missing.arrayBuffer();
  const post = await fetch(`${gateway.url}/new`, { method: 'POST' });
  t.is(post.status, 403, 'the client is read-only');
  await post.arrayBuffer();
  t.false(
    seen.some((r) => r.url === '/' || r.url.startsWith('/assets')),
    'served by the gateway itself, no service asked',
  );
});

test('unknown API and media paths stay 404 problem+json (never the web client)', async (t) => {
  for (const path of ['/v1/unknown', '/v1/', '/media/1/640.png', '/media/']) {
    const res = await fetch(`${gateway.url}${path}`);
    t.is(res.status, 404, path);
    t.regex(res.headers.get('content-type') ?? '', /problem\+json/, path);
    await res.arrayBuffer();
  }
});

test('GET /v1/openapi.json is the merged document, JSON, cacheable and revalidated by ETag', async (t) => {
  const res = await fetch(`${gateway.url}/v1/openapi.json`);
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /^application\/json/);
  t.regex(res.headers.get('cache-control') ?? '', /max-age=\d+/);
  t.truthy(res.headers.get('x-request-id'));
  const text = await res.text();
  t.is(text, committedOpenApi());
  t.truthy((JSON.parse(text) as { paths: Record<string, unknown> }).paths['/v1/feed']);
  const etag = res.headers.get('etag') ?? '';
  t.truthy(etag);
  const again = await fetch(`${gateway.url}/v1/openapi.json`, { headers: { 'if-none-match': etag } });
  t.is(again.status, 304);
  t.is((await fetch(`${gateway.url}/v1/openapi.json`, { method: 'POST' })).status, 403);
  t.false(
    seen.some((r) => r.url.includes('openapi')),
    'served by the gateway itself, no service asked',
  );
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

test('a gateway whose port another process holds fails with GatewayPortTaken (the test stack then tries another port)', async (t) => {
  const held = await reservePort();
  const dir = mkdtempSync(join(tmpdir(), 'instantpost-gw-taken-'));
  t.teardown(async () => {
    await held.release();
    rmSync(dir, { recursive: true, force: true });
  });
  const at = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const error = await t.throwsAsync(
    startGateway({
      workDir: dir,
      listen: held.port,
      upstreams: { upload: [at], 'media-processing': [at], metadata: [at], feed: [at], notification: [at] },
      s3: { endpoint: ns.s3.endpoint, bucket: ns.s3.bucket },
      uploadMaxBytes: 1024 * 1024,
      mediaUrlSigningKey: KEY,
    }),
    { instanceOf: GatewayPortTaken },
  );
  t.is(error?.port, held.port);
});
