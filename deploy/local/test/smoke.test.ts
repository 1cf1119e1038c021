import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { freePort, SERVICES, setupStack, startStack } from '../src/index.ts';

let ns: TestNamespace;
let workDir: string;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  workDir = mkdtempSync(join(tmpdir(), 'instantpost-smoke-'));
});
test.after.always(async () => {
  await ns?.close();
  await stopTestInfra();
  rmSync(workDir, { recursive: true, force: true });
});

function pem(
  key: { export(o: { type: 'spki' | 'pkcs8'; format: 'pem' }): string | Buffer },
  type: 'spki' | 'pkcs8',
) {
  return Buffer.from(key.export({ type, format: 'pem' })).toString('base64');
}

test('all five services boot behind the gateway, answer /readyz on one port, and exit 0 on SIGTERM', async (t) => {
  const [db0, db1] = ns.postgres.databases.map((db) => {
    const url = new URL(ns.infra.postgresUrl);
    url.pathname = `/${db}`;
    return url.toString();
  });
  const keys = generateKeyPairSync('ed25519');
  const options = {
    env: {
      PATH: process.env.PATH,
      SHARD_MAP: `0-7=${db0};8-15=${db1}`,
      PG_POOL_MAX: '2',
      REDIS_URL: ns.redis.url,
      NATS_URL: ns.nats.servers,
      NATS_PREFIX: ns.nats.prefix,
      JWT_PUBLIC_KEY: pem(keys.publicKey, 'spki'),
      JWT_PRIVATE_KEY: pem(keys.privateKey, 'pkcs8'),
      S3_ENDPOINT: ns.s3.endpoint,
      S3_BUCKET: ns.s3.bucket,
      LOG_LEVEL: 'warn',
    },
    redisPrefix: ns.redis.prefix,
    gatewayPort: await freePort(),
    workDir,
    ports: 'random' as const,
    s3: { endpoint: ns.s3.endpoint, bucket: ns.s3.bucket },
    uploadMaxBytes: 25 * 1024 * 1024,
    logs: 'files' as const,
  };
  await setupStack(options);
  const stack = await startStack(options);
  try {
    for (const service of SERVICES) {
      const res = await fetch(`${stack.gatewayUrl}/_readyz/${service}`);
      t.is(res.status, 200, service);
      t.deepEqual(await res.json(), { status: 'ready', checks: { postgres: 'ok', redis: 'ok', nats: 'ok' } });
      t.truthy(res.headers.get('x-request-id'), 'the gateway passes a request id');
    }
    const unknown = await fetch(`${stack.gatewayUrl}/v1/nothing`);
    t.is(unknown.status, 404);
    t.is(unknown.headers.get('content-type'), 'application/problem+json');
  } finally {
    const started = Date.now();
    const codes = await stack.stop();
    t.deepEqual(
      Object.values(codes),
      SERVICES.map(() => 0),
      JSON.stringify(codes),
    );
    t.true(Date.now() - started < 10_000, 'every service stopped within a few seconds');
  }
});
