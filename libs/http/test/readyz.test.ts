import { createLogger } from '@instantpost/telemetry';
import { startTcpProxy, stopTestInfra, testInfra } from '@instantpost/testing';
import test from 'ava';
import postgres from 'postgres';
import { createHttpApp } from '../src/index.ts';

test.after.always(() => stopTestInfra());

test('/readyz turns 503 when Postgres is unreachable and back to 200 when it returns', async (t) => {
  const infra = await testInfra();
  const target = new URL(infra.postgresUrl);
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  const viaProxy = new URL(infra.postgresUrl);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  const sql = postgres(viaProxy.toString(), { max: 1, connect_timeout: 1, onnotice: () => {} });
  const app = await createHttpApp({
    service: 'probe',
    logger: createLogger({ service: 'probe', level: 'silent' }),
    readiness: { postgres: () => sql`SELECT 1` },
  });
  await app.ready();

  const up = await app.inject({ url: '/readyz' });
  t.is(up.statusCode, 200);
  t.deepEqual(up.json(), { status: 'ready', checks: { postgres: 'ok' } });

  await proxy.cut();
  const down = await app.inject({ url: '/readyz' });
  t.is(down.statusCode, 503);
  t.regex(down.headers['content-type'] ?? '', /problem\+json/);
  t.regex(down.json().detail, /not ready: postgres/);
  const live = await app.inject({ url: '/healthz' });
  t.is(live.statusCode, 200, 'liveness does not depend on Postgres');

  await proxy.restore();
  let back = 0;
  for (let i = 0; i < 20 && back !== 200; i++) {
    back = (await app.inject({ url: '/readyz' })).statusCode;
    if (back !== 200) await new Promise((r) => setTimeout(r, 250));
  }
  t.is(back, 200);

  await app.close();
  await sql.end({ timeout: 1 });
  await proxy.close();
});
