import { gunzipSync } from 'node:zlib';
import test from 'ava';
import Fastify, { type FastifyInstance } from 'fastify';
import { acceptsGzip, keepJson, sendJson } from '../src/kept-json.ts';

/** A page-sized JSON reply (~20 KB), as the services keep them. */
const page = () =>
  Buffer.from(
    JSON.stringify({
      items: Array.from({ length: 20 }, (_, i) => ({ id: String(i), caption: `post ${i} `.repeat(100) })),
      nextCursor: null,
    }),
  );
const KEPT = keepJson(page());
const SMALL = keepJson(Buffer.from('{"items":[],"nextCursor":null}'));

let app: FastifyInstance;
test.before(async () => {
  app = Fastify();
  app.get('/kept', (request, reply) => sendJson(request, reply, KEPT));
  app.get('/fresh', (request, reply) => sendJson(request, reply, page()));
  app.get('/small', (request, reply) => sendJson(request, reply, SMALL));
  await app.ready();
});
test.after.always(() => app?.close());

const get = (url: string, acceptEncoding?: string) =>
  app.inject({ method: 'GET', url, headers: acceptEncoding ? { 'accept-encoding': acceptEncoding } : {} });

test('a kept reply goes gzipped to a client that accepts gzip: the same JSON, the same gzip every time', async (t) => {
  const first = await get('/kept', 'gzip, deflate, br');
  t.is(first.statusCode, 200);
  t.is(first.headers['content-encoding'], 'gzip');
  t.is(first.headers.vary, 'Accept-Encoding');
  t.regex(String(first.headers['content-type']), /^application\/json/);
  t.deepEqual(gunzipSync(first.rawPayload), KEPT, 'byte for byte the JSON a plain client gets');
  t.true(first.rawPayload.length < KEPT.length / 4, `${first.rawPayload.length} of ${KEPT.length} bytes`);
  t.deepEqual((await get('/kept', 'gzip')).rawPayload, first.rawPayload);
});

test('a client that does not take gzip gets the bytes as they are', async (t) => {
  for (const encoding of [undefined, 'identity', 'gzip;q=0', 'br, gzip; q=0']) {
    const res = await get('/kept', encoding);
    t.is(res.headers['content-encoding'], undefined, String(encoding));
    t.is(res.headers.vary, 'Accept-Encoding', 'caches keep the two apart');
    t.deepEqual(res.rawPayload, KEPT, String(encoding));
  }
});

test('replies the service does not keep, and small ones, are left to the gateway to compress', async (t) => {
  const fresh = await get('/fresh', 'gzip');
  t.is(fresh.headers['content-encoding'], undefined);
  t.deepEqual(fresh.rawPayload, page());
  const small = await get('/small', 'gzip');
  t.is(small.headers['content-encoding'], undefined);
  t.is(small.body, '{"items":[],"nextCursor":null}');
});

test('Accept-Encoding: gzip or * without q=0', (t) => {
  t.true(acceptsGzip('gzip'));
  t.true(acceptsGzip('deflate, GZIP;q=0.5'));
  t.true(acceptsGzip('*'));
  t.true(acceptsGzip(['br', 'gzip']));
  t.false(acceptsGzip(undefined));
  t.false(acceptsGzip('br, deflate'));
  t.false(acceptsGzip('gzip;q=0'));
  t.false(acceptsGzip('*;q=0.0'));
  t.false(acceptsGzip('gzip;q=0, *'), 'named and refused: * does not bring it back');
});
