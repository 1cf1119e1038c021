import { createLogger } from '@instantpost/telemetry';
import { freePort } from '@instantpost/testing';
import test from 'ava';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { createHttpApp } from '../src/index.ts';

const logger = createLogger({ service: 'http-outage-test', level: 'silent' });

test('a dependency that is down answers 503 problem+json with Retry-After; a bug stays a 500', async (t) => {
  const port = await freePort(); // nothing listens there
  const redis = new Redis({ port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  redis.on('error', () => undefined);
  const sql = postgres(`postgres://postgres@127.0.0.1:${port}/none`, { max: 1, connect_timeout: 2 });
  t.teardown(async () => {
    redis.disconnect();
    await sql.end({ timeout: 0 });
  });
  const app = await createHttpApp({ service: 'probe', logger, readiness: {} });
  app.get('/redis', async () => ({ value: await redis.get('k') }));
  app.get('/postgres', async () => sql`select 1`);
  app.get('/bug', async () => {
    throw new TypeError('undefined is not a function');
  });
  await app.ready();
  t.teardown(() => app.close());

  for (const path of ['/redis', '/postgres']) {
    const res = await app.inject({ url: path });
    t.is(res.statusCode, 503, path);
    t.is(res.headers['retry-after'], '2', path);
    t.regex(res.headers['content-type'] ?? '', /^application\/problem\+json/);
    t.is(res.json().code, 'DEPENDENCY_UNAVAILABLE');
  }
  const bug = await app.inject({ url: '/bug' });
  t.is(bug.statusCode, 500);
  t.is(bug.json().detail, 'internal error', 'a 500 still hides its message');
});
