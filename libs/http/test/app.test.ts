import { generateKeyPairSync } from 'node:crypto';
import { createLogger } from '@instantpost/telemetry';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { createHttpApp, DomainError, type HttpAppOptions, signAccessToken } from '../src/index.ts';

const keys = generateKeyPairSync('ed25519');
const otherKeys = generateKeyPairSync('ed25519');
const logger = createLogger({ service: 'http-test', level: 'silent' });
let ns: TestNamespace;
let redis: Redis;

test.before(async () => {
  ns = await openNamespace();
  redis = new Redis(ns.redis.url);
});
test.after.always(async () => {
  redis.disconnect();
  await ns.close();
  await stopTestInfra();
});

async function buildApp(extra: Partial<HttpAppOptions> = {}): Promise<FastifyInstance> {
  const app = await createHttpApp({
    service: 'probe',
    logger,
    jwtPublicKey: keys.publicKey,
    readiness: { redis: () => redis.ping() },
    rateLimit: { redis, keyPrefix: ns.redis.prefix },
    ...extra,
  });
  app.get('/v1/me', { onRequest: app.requireUser }, async (request) => ({ user: request.user }));
  app.post(
    '/v1/things',
    {
      schema: {
        body: {
          type: 'object',
          required: ['username'],
          properties: { username: { type: 'string', pattern: '^[a-z0-9._]{1,30}$' } },
        },
      },
    },
    async () => ({ ok: true }),
  );
  app.get('/v1/boom', async () => {
    throw new Error('secret database detail');
  });
  app.get('/v1/bad', async () => {
    throw new DomainError('invalid', 'PROBE_CAPTION_TOO_LONG', 'caption is too long', { field: 'caption' });
  });
  app.get('/v1/limited', { config: { rateLimit: { max: 3, timeWindow: 60_000 } } }, async () => ({
    ok: true,
  }));
  await app.ready();
  return app;
}

test('a valid token identifies the user', async (t) => {
  const app = await buildApp();
  const token = signAccessToken(keys.privateKey, { sub: '123456789012345678', username: 'alice' }, 60);
  const res = await app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${token}` } });
  t.is(res.statusCode, 200);
  t.like(res.json(), { user: { id: '123456789012345678', username: 'alice' } });
  t.true(res.json().user.expiresAt > Date.now(), 'the token expiry is known to the route');
  const withSession = signAccessToken(keys.privateKey, { sub: '7', username: 'bob', sid: '42' }, 60);
  const named = await app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${withSession}` } });
  t.like(named.json(), { user: { id: '7', username: 'bob', sessionId: '42' } }, 'the session is named');
  await app.close();
});

test('a token signed with another key is refused with 401 problem+json', async (t) => {
  const app = await buildApp();
  const token = signAccessToken(otherKeys.privateKey, { sub: '1', username: 'mallory' }, 60);
  const res = await app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${token}` } });
  t.is(res.statusCode, 401);
  t.regex(res.headers['content-type'] ?? '', /^application\/problem\+json/);
  t.like(res.json(), { status: 401, title: 'Unauthorized', detail: 'token signature is invalid' });
  await app.close();
});

test('missing, malformed and expired tokens are 401', async (t) => {
  const app = await buildApp();
  const expired = signAccessToken(keys.privateKey, { sub: '1', username: 'a' }, 60, Date.now() - 120_000);
  for (const authorization of [undefined, 'Basic abc', 'Bearer not.a.jwt', `Bearer ${expired}`]) {
    const res = await app.inject({ url: '/v1/me', headers: authorization ? { authorization } : {} });
    t.is(res.statusCode, 401, String(authorization));
    t.is(res.json().status, 401);
  }
  await app.close();
});

test('validation errors are 400 problem+json naming the field', async (t) => {
  const app = await buildApp();
  const res = await app.inject({ method: 'POST', url: '/v1/things', payload: { username: 'NO SPACES' } });
  t.is(res.statusCode, 400);
  t.like(res.json(), { status: 400, field: 'username' });
  const missing = await app.inject({ method: 'POST', url: '/v1/things', payload: {} });
  t.like(missing.json(), { status: 400, field: 'username' });
  const bad = await app.inject({ url: '/v1/bad' });
  t.like(bad.json(), { status: 400, field: 'caption', detail: 'caption is too long' });
  await app.close();
});

test('a 500 hides its message, unknown routes are 404 problem+json', async (t) => {
  const app = await buildApp();
  const res = await app.inject({ url: '/v1/boom' });
  t.is(res.statusCode, 500);
  t.is(res.json().detail, 'internal error');
  t.false(res.body.includes('secret'));
  const missing = await app.inject({ url: '/v1/nothing-here' });
  t.is(missing.statusCode, 404);
  t.regex(missing.headers['content-type'] ?? '', /problem\+json/);
  await app.close();
});

test('request ids are taken from the gateway or made, and echoed', async (t) => {
  const app = await buildApp();
  const given = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'gw-42' } });
  t.is(given.headers['x-request-id'], 'gw-42');
  const made = await app.inject({ url: '/healthz' });
  t.regex(String(made.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  await app.close();
});

test('rate limits are shared by replicas through Redis and answer 429 with Retry-After', async (t) => {
  const [a, b] = await Promise.all([buildApp(), buildApp()]);
  const codes: number[] = [];
  for (const app of [a, b, a, b]) codes.push((await app.inject({ url: '/v1/limited' })).statusCode);
  t.deepEqual(codes, [200, 200, 200, 429]);
  const limited = await b.inject({ url: '/v1/limited' });
  t.truthy(limited.headers['retry-after']);
  t.regex(limited.headers['content-type'] ?? '', /problem\+json/);
  t.is(limited.json().status, 429);
  await Promise.all([a.close(), b.close()]);
});

test('metrics and the OpenAPI document are served', async (t) => {
  const app = await buildApp();
  await app.inject({ url: '/v1/bad' });
  const metrics = await app.inject({ url: '/metrics' });
  t.is(metrics.statusCode, 200);
  t.regex(metrics.body, /http_request_duration_seconds_count\{[^}]*route="\/v1\/bad"[^}]*status_code="400"/);
  t.regex(metrics.body, /process_cpu_seconds_total/);
  const docs = await app.inject({ url: '/docs/json' });
  t.truthy(docs.json().paths['/v1/things']);
  await app.close();
});
