import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openShardMapStore } from '@instantpost/shards';
import { openNamespace, stopTestInfra, type TestNamespace, waitFor } from '@instantpost/testing';
import test from 'ava';
import postgres from 'postgres';
import { createServiceApp } from '../src/index.ts';
import { setupService } from '../src/setup.ts';
import { makeTestKeys, openTestService, type TestService, testEnvironment } from '../src/testing.ts';

let ns: TestNamespace;
let svc: TestService<Record<string, never>>;
let migrations: string;
const keys = makeTestKeys();

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  migrations = mkdtempSync(join(tmpdir(), 'chassis-live-map-'));
  writeFileSync(
    join(migrations, '0001_notes.sql'),
    'CREATE TABLE notes (id bigint PRIMARY KEY DEFAULT next_id(), body text);',
  );
  svc = await openTestService({
    service: 'upload',
    ns,
    keys,
    spec: {},
    migrations: pathToFileURL(`${migrations}/`),
    build: async (ctx) => ({ app: await createServiceApp('upload', ctx) }),
  });
});
test.after.always(async () => {
  await svc?.close();
  await ns?.close();
  await stopTestInfra();
  rmSync(migrations, { recursive: true, force: true });
});

test('a running service follows a change of the live map within a second and writes the moved shard on the new database', async (t) => {
  const shards = svc.infra.shards;
  const store = await openShardMapStore(svc.infra.js, { prefix: ns.nats.prefix });
  const seeded = await store.get();
  t.is(seeded?.version, shards.version, 'the service seeded the map from SHARD_MAP and runs on it');
  const note = async (body: string) => {
    const s = shards.forShard(5);
    const [row] = await s.sql<
      { id: string }[]
    >`INSERT INTO ${s.table('notes')} (body) VALUES (${body}) RETURNING id`;
    return BigInt(row?.id ?? 0);
  };
  const before = await note('before');

  // A third database holding shard 5's schema (a mover copies it; here migrations create it empty).
  const third = await ns.postgres.createDatabase();
  const moved = await store.update((m) => ({ ...m, shards: m.shards.map((u, s) => (s === 5 ? third : u)) }));
  // Setup migrates where the live map puts the shards, whatever SHARD_MAP says.
  await setupService('upload', pathToFileURL(`${migrations}/`), { env: testEnvironment('upload', ns, keys) });
  const started = Date.now();
  await waitFor('the new map applied', () => shards.version === moved.version, { timeoutMs: 2000 });
  t.true(Date.now() - started < 2000);
  const after = await note('after');
  t.true(after > before);
  const direct = postgres(third, { max: 1, onnotice: () => {} });
  try {
    t.deepEqual(
      [...(await direct`SELECT body FROM upload_0005.notes`)].map((r) => r.body),
      ['after'],
      'the write went to the new database',
    );
  } finally {
    await direct.end();
  }
  const res = await svc.app.inject({ url: '/readyz' });
  t.is(res.statusCode, 200, 'ready on the new map');
});
