import { generateKeyPairSync } from 'node:crypto';
import { createLogger } from '@instantpost/telemetry';
import { Type } from '@sinclair/typebox';
import test from 'ava';
import type { FastifyInstance } from 'fastify';
import {
  BEARER,
  createHttpApp,
  DomainError,
  describeRoutes,
  NoContent,
  PageQuery,
  replies,
  schemaOnly,
  signAccessToken,
  Text,
} from '../src/index.ts';

const logger = createLogger({ service: 'http-test', level: 'silent' });

interface Deps {
  save(text: string): string;
}

function routes(app: FastifyInstance, deps: Deps): void {
  app.post<{ Body: { text: string; count?: number } }>(
    '/v1/notes',
    {
      schema: {
        summary: 'A note',
        body: Type.Object({
          text: Text({ minLength: 1, maxLength: 5 }),
          count: Type.Optional(Type.Integer()),
        }),
        response: replies({ 201: Type.Object({ id: Type.String(), text: Type.String() }) }, 400),
      },
    },
    async (request, reply) =>
      reply.status(201).send({ id: deps.save(request.body.text), text: request.body.text, secret: 'x' }),
  );
  app.get<{ Querystring: PageQuery }>(
    '/v1/notes',
    {
      schema: {
        querystring: PageQuery,
        response: replies({ 200: Type.Object({ limit: Type.Integer() }) }, 400),
      },
    },
    async (request) => ({ limit: request.query.limit }),
  );
  app.delete(
    '/v1/notes/:id',
    {
      onRequest: app.requireUser,
      schema: { security: BEARER, response: replies({ 204: NoContent }, 401, 404, 429) },
    },
    async () => {
      throw new DomainError('rate_limited', 'PROBE_SLOW_DOWN', 'slow down', { retryAfterSeconds: 2.5 });
    },
  );
}

async function app(): Promise<FastifyInstance> {
  const built = await createHttpApp({ service: 'probe', logger, readiness: {} });
  routes(built, { save: () => '1' });
  await built.ready();
  return built;
}

test('JSON bodies are validated as sent, query strings are coerced', async (t) => {
  const a = await app();
  for (const [payload, field] of [
    [{ text: ['abc'] }, 'text'],
    [{ text: 12 }, 'text'],
    [{ text: 'ok', count: '3' }, 'count'],
    [{ text: 'a\u0000b' }, 'text'],
    [{ text: 'a\ud800b' }, 'text'],
    [{ text: '' }, 'text'],
    [{}, 'text'],
    [['not', 'an', 'object'], 'body'],
  ] as const) {
    const res = await a.inject({ method: 'POST', url: '/v1/notes', payload: payload as object });
    t.is(res.statusCode, 400, JSON.stringify(payload));
    t.like(res.json(), { status: 400, field, code: 'VALIDATION_FAILED' }, JSON.stringify(payload));
    t.regex(res.headers['content-type'] ?? '', /^application\/problem\+json/);
    t.truthy(res.json().requestId, 'the problem keeps every field through its schema');
  }
  // Five code points, ten UTF-16 units: lengths count what a person sees.
  const emoji = await a.inject({ method: 'POST', url: '/v1/notes', payload: { text: '😀😀😀😀😀' } });
  t.is(emoji.statusCode, 201);
  t.deepEqual(emoji.json(), { id: '1', text: '😀😀😀😀😀' }, 'the reply has the fields of its schema only');
  t.is((await a.inject({ url: '/v1/notes?limit=7' })).json().limit, 7);
  t.is((await a.inject({ url: '/v1/notes' })).json().limit, 20, 'the default applies');
  t.like((await a.inject({ url: '/v1/notes?limit=101' })).json(), { status: 400, field: 'limit' });
  await a.close();
});

test('a DomainError becomes problem+json by its kind, with Retry-After when it has one', async (t) => {
  const a = await createHttpApp({ service: 'probe', logger, readiness: {} });
  a.get('/v1/x/:kind', async (request) => {
    const kind = (request.params as { kind: 'not_found' | 'conflict' | 'forbidden' }).kind;
    throw new DomainError(kind, 'PROBE_CODE', 'no', { field: 'f' });
  });
  await a.ready();
  for (const [kind, status] of [
    ['not_found', 404],
    ['conflict', 409],
    ['forbidden', 403],
  ] as const) {
    const res = await a.inject({ url: `/v1/x/${kind}` });
    t.is(res.statusCode, status);
    t.like(res.json(), { status, code: 'PROBE_CODE', detail: 'no' });
  }
  await a.close();
  const b = await app();
  t.is((await b.inject({ method: 'DELETE', url: '/v1/notes/1' })).statusCode, 401);
  await b.close();
  const keys = generateKeyPairSync('ed25519');
  const c = await createHttpApp({ service: 'probe', logger, readiness: {}, jwtPublicKey: keys.publicKey });
  routes(c, { save: () => '1' });
  const token = signAccessToken(keys.privateKey, { sub: '1', username: 'a' }, 60);
  const limited = await c.inject({
    method: 'DELETE',
    url: '/v1/notes/1',
    headers: { authorization: `Bearer ${token}` },
  });
  t.is(limited.statusCode, 429);
  t.is(limited.headers['retry-after'], '3');
  t.like(limited.json(), { status: 429, code: 'PROBE_SLOW_DOWN' });
  await c.close();
});

test('a schema-only app describes the routes without their dependencies', async (t) => {
  const doc = await describeRoutes('probe', (a) => routes(a, schemaOnly<Deps>()));
  const post = doc.paths['/v1/notes']?.post as { responses: Record<string, unknown>; summary: string };
  t.is(post.summary, 'A note');
  t.deepEqual(Object.keys(post.responses).sort(), ['201', '400']);
  t.like(post.responses['400'], {
    content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
  });
  t.truthy(doc.components?.schemas?.Problem);
  const del = doc.paths['/v1/notes/{id}']?.delete as {
    security: unknown;
    responses: Record<string, unknown>;
  };
  t.deepEqual(del.security, [{ bearer: [] }]);
  t.deepEqual(Object.keys(del.responses).sort(), ['204', '401', '404', '429']);
  t.throws(() => schemaOnly<Deps>().save('x'));
});
