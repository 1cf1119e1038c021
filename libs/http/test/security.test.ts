import { generateKeyPairSync } from 'node:crypto';
import { createLogger } from '@instantpost/telemetry';
import test from 'ava';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import {
  createHttpApp,
  type HttpAppOptions,
  SessionRevocations,
  signAccessToken,
  verifyAccessToken,
} from '../src/index.ts';

const keys = generateKeyPairSync('ed25519');
const logger = createLogger({ service: 'http-security-test', level: 'silent' });

async function buildApp(extra: Partial<HttpAppOptions> = {}): Promise<FastifyInstance> {
  const app = await createHttpApp({
    service: 'probe',
    logger,
    jwtPublicKey: keys.publicKey,
    readiness: {},
    ...extra,
  });
  app.get('/v1/me', { onRequest: app.requireUser }, async (request) => ({ user: request.user }));
  app.get('/v1/ip', async (request) => ({ ip: request.ip }));
  app.get('/v1/limited', { config: { rateLimit: { max: 1, timeWindow: 60_000 } } }, async () => ({
    ok: true,
  }));
  await app.ready();
  return app;
}

const token = (claims: { sub: string; username: string; sid?: string }, ttl = 60) =>
  signAccessToken(keys.privateKey, claims, ttl);

test('only the canonical unpadded base64url form of a token verifies', (t) => {
  const good = token({ sub: '1', username: 'ann' });
  const [header, payload, signature] = good.split('.') as [string, string, string];
  t.notThrows(() => verifyAccessToken(keys.publicKey, good));
  // The last character of a 64-byte signature carries 2 unused bits: flipping them decodes to the same bytes.
  const last = signature.at(-1) as string;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const sameBytes = alphabet[alphabet.indexOf(last) ^ 1] as string;
  const variants = {
    'padding on the signature': `${header}.${payload}.${signature}==`,
    'padding on the payload': `${header}.${payload}=.${signature}`,
    'junk inside the signature': `${header}.${payload}.${signature.slice(0, 10)}!${signature.slice(10)}`,
    'a space inside the payload': `${header}.${payload.slice(0, 5)} ${payload.slice(5)}.${signature}`,
    'standard base64 characters': `${header}.${payload}.${signature.replaceAll('-', '+').replaceAll('_', '/')}`,
    'non-canonical last character': `${header}.${payload}.${signature.slice(0, -1)}${sameBytes}`,
  };
  for (const [what, variant] of Object.entries(variants)) {
    if (variant === good) continue; // (a signature without - or _ has no standard-base64 variant)
    t.throws(() => verifyAccessToken(keys.publicKey, variant), undefined, what);
  }
});

test('a token in any non-canonical form is 401 at the route', async (t) => {
  const app = await buildApp();
  const good = token({ sub: '1', username: 'ann' });
  t.is((await app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${good}` } })).statusCode, 200);
  const padded = await app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${good}==` } });
  t.is(padded.statusCode, 401);
  t.regex(padded.headers['content-type'] ?? '', /problem\+json/);
  await app.close();
});

test('a revoked session or user is refused, also when the token was verified before (cache hit)', async (t) => {
  const revocations = new SessionRevocations(3_600_000);
  const app = await buildApp({ revocations });
  const call = (bearer: string) =>
    app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${bearer}` } });
  const a = token({ sub: '1', username: 'ann', sid: '10' });
  const b = token({ sub: '1', username: 'ann', sid: '11' });
  const legacy = token({ sub: '2', username: 'bob' });
  for (const bearer of [a, b, legacy]) t.is((await call(bearer)).statusCode, 200);

  const heard: string[] = [];
  revocations.onRevoked((r) => heard.push(r.sessionId ?? `user ${r.userId}`));
  revocations.add({ userId: '1', sessionId: '10', revokedAtMs: Date.now() });
  t.is((await call(a)).statusCode, 401, 'the revoked session');
  t.is((await call(b)).statusCode, 200, 'another session of the same user goes on');
  revocations.add({ userId: '2', revokedAtMs: Date.now() });
  t.is((await call(legacy)).statusCode, 401, 'every token of the user issued before a logout-all');
  t.deepEqual(heard, ['10', 'user 2']);
  await app.close();
});

test('revocations are forgotten once every token they could stop has expired', (t) => {
  const list = new SessionRevocations(1000);
  const now = Date.now();
  list.add({ userId: '1', sessionId: '10', revokedAtMs: now }, now);
  list.add({ userId: '2', sessionId: '20', revokedAtMs: now - 5000 }, now);
  t.is(list.size, 1, 'a revocation older than the longest token is not even kept');
  list.prune(now + 999);
  t.is(list.size, 1);
  list.prune(now + 1000);
  t.is(list.size, 0);
});

test('X-Forwarded-For names the client only when the peer is a trusted proxy', async (t) => {
  const trusting = await buildApp({ trustedProxies: ['127.0.0.1', '10.0.0.0/8'] });
  const viaGateway = await trusting.inject({ url: '/v1/ip', headers: { 'x-forwarded-for': '203.0.113.5' } });
  t.is(viaGateway.json().ip, '203.0.113.5');
  const direct = await trusting.inject({
    url: '/v1/ip',
    headers: { 'x-forwarded-for': '203.0.113.5' },
    remoteAddress: '198.51.100.9',
  });
  t.is(direct.json().ip, '198.51.100.9', 'a client cannot name its own address');
  // Appended chains: the last hop not trusted is the client, whatever the client put in front.
  const chain = await trusting.inject({
    url: '/v1/ip',
    headers: { 'x-forwarded-for': '1.2.3.4, 203.0.113.5, 10.1.2.3' },
  });
  t.is(chain.json().ip, '203.0.113.5');
  await trusting.close();
  const trustingNobody = await buildApp();
  const ignored = await trustingNobody.inject({
    url: '/v1/ip',
    headers: { 'x-forwarded-for': '203.0.113.5' },
  });
  t.is(ignored.json().ip, '127.0.0.1');
  await trustingNobody.close();
});

test('with Redis down a rate-limited route still answers instead of failing', async (t) => {
  // Nothing listens on port 1: every limiter command fails.
  const redis = new Redis({ port: 1, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  const app = await buildApp({ rateLimit: { redis, keyPrefix: 'x:' } });
  const res = await app.inject({ url: '/v1/limited' });
  t.is(res.statusCode, 200);
  await app.close();
  redis.disconnect();
});
