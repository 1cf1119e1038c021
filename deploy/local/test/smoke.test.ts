import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { SERVICES } from '../src/index.ts';
import { openTestStack } from './stack-fixture.ts';

let ns: TestNamespace;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
});
test.after.always(async () => {
  await ns?.close();
  await stopTestInfra();
});

test('all five services boot behind the gateway, answer /readyz on one port, and exit 0 on SIGTERM', async (t) => {
  const { url, stop } = await openTestStack(ns);
  try {
    for (const service of SERVICES) {
      const res = await fetch(`${url}/_readyz/${service}`);
      t.is(res.status, 200, service);
      t.deepEqual(await res.json(), { status: 'ready', checks: { postgres: 'ok', redis: 'ok', nats: 'ok' } });
      t.truthy(res.headers.get('x-request-id'), 'the gateway passes a request id');
    }
    const unknown = await fetch(`${url}/v1/nothing`);
    t.is(unknown.status, 404);
    t.is(unknown.headers.get('content-type'), 'application/problem+json');
  } finally {
    const codes = await stop();
    t.deepEqual(
      Object.values(codes),
      SERVICES.map(() => 0),
      `every service drains and exits 0 on SIGTERM: ${JSON.stringify(codes)}`,
    );
  }
});
