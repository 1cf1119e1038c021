import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import anyTest, { type TestFn } from 'ava';
import postgres from 'postgres';
import { ensureDatabases, parseShardMap, ShardErrorCodes } from '../src/index.ts';

const test = anyTest as TestFn<{ ns: TestNamespace }>;

test.before(async (t) => {
  t.context = { ns: await openNamespace() };
});

test.after.always(async (t) => {
  await t.context.ns?.close();
  await stopTestInfra();
});

test('ensureDatabases creates missing databases once, even when called concurrently', async (t) => {
  const admin = t.context.ns.infra.postgresUrl;
  const names = [`${t.context.ns.name}_ens_a`, `${t.context.ns.name}_ens_b`];
  const url = (name: string) => Object.assign(new URL(admin), { pathname: `/${name}` }).toString();
  const map = parseShardMap(`0-1=${url(names[0] ?? '')};2-3=${url(names[1] ?? '')};4=${url(names[0] ?? '')}`);
  const sql = postgres(admin, { max: 1 });
  try {
    const runs = await Promise.all([1, 2, 3].map(() => ensureDatabases(map, admin)));
    t.deepEqual(runs.flat().sort(), names, 'each database created by exactly one caller');
    t.deepEqual(await ensureDatabases(map, admin), []);
    const found = await sql`select datname from pg_database where datname = any(${names})`;
    t.is(found.length, 2);
  } finally {
    for (const n of names) await sql.unsafe(`DROP DATABASE IF EXISTS "${n}" WITH (FORCE)`);
    await sql.end();
  }
});

test('ensureDatabases refuses databases on another server than the admin URL', async (t) => {
  const map = parseShardMap('0-3=postgres://db.elsewhere:5432/x');
  const error = await t.throwsAsync(ensureDatabases(map, t.context.ns.infra.postgresUrl));
  t.is((error as { code?: string } | undefined)?.code, ShardErrorCodes.OtherServer);
  t.regex(error?.message ?? '', /is not on the admin server /);
});
