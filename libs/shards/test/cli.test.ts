import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import anyTest, { type TestFn } from 'ava';
import { migrationsDir, removeDir, twoDatabaseMap } from './helpers.ts';

const test = anyTest as TestFn<{ ns: TestNamespace; map: string; dir: string; created: string[] }>;
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

async function cli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      {
        env: { ...process.env, ...env },
      },
    );
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: e.stdout ?? '', err: e.stderr ?? '' };
  }
}

test.before(async (t) => {
  const ns = await openNamespace();
  const { text } = await twoDatabaseMap(ns, 16);
  const dir = await migrationsDir({
    '0001_users.sql': 'CREATE TABLE users (id bigint PRIMARY KEY DEFAULT next_id());',
    '0002_posts.sql': 'CREATE TABLE posts (id bigint PRIMARY KEY DEFAULT next_id());',
  });
  t.context = { ns, map: text, dir, created: [] };
});

test.after.always(async (t) => {
  await removeDir(t.context.dir);
  await t.context.ns?.close();
  await stopTestInfra();
});

test.serial(
  'status shows every shard behind (exit 3), migrate applies, then status is up to date (exit 0)',
  async (t) => {
    const env = { SHARD_MAP: t.context.map };
    const args = ['--service', 'metadata', '--dir', t.context.dir];
    const before = await cli(['status', ...args], env);
    t.is(before.code, 3, before.err);
    t.regex(before.out, /service metadata: 16 logical shards on 2 databases/);
    t.regex(before.out, /0-7 +metadata_0000\.\.metadata_0007 +- +metadata 1-2 +not created/);

    const run = await cli(['migrate', ...args], env);
    t.is(run.code, 0, run.err);
    t.regex(run.out, /applied metadata 2 posts to metadata_0015/);
    t.regex(run.out, /applied 32 migration\(s\)/);
    t.regex(run.out, /8-15 +metadata_0008\.\.metadata_0015 +metadata 1-2 +- +up to date/);

    const again = await cli(['migrate', ...args], env);
    t.regex(again.out, /nothing to apply/);
    const after = await cli(['status', ...args], env);
    t.is(after.code, 0, after.err);
  },
);

test.serial('a bad SHARD_MAP or missing option stops with a message', async (t) => {
  const bad = await cli(['status', '--service', 'metadata', '--dir', t.context.dir], { SHARD_MAP: '0-7=x' });
  t.is(bad.code, 1);
  t.regex(bad.err, /SHARD_MAP: entry 1 "0-7=x": "x" is not a URL/);
  const noService = await cli(['status', '--dir', t.context.dir], { SHARD_MAP: t.context.map });
  t.is(noService.code, 2);
  t.regex(noService.err, /status needs --service/);
});

test.serial('create-databases creates the databases of the map that are missing', async (t) => {
  const admin = t.context.ns.infra.postgresUrl;
  const base = new URL(admin);
  const names = [`${t.context.ns.name}_cli_a`, `${t.context.ns.name}_cli_b`];
  const map = names
    .map((n, i) => {
      const u = new URL(base);
      u.pathname = `/${n}`;
      return `${i * 4}-${i * 4 + 3}=${u}`;
    })
    .join(';');
  const postgres = (await import('postgres')).default;
  const sql = postgres(admin, { max: 1 });
  try {
    const first = await cli(['create-databases', '--admin-url', admin], { SHARD_MAP: map });
    t.is(first.code, 0, first.err);
    t.regex(first.out, new RegExp(`created ${names[0]}, ${names[1]}`));
    const second = await cli(['create-databases', '--admin-url', admin], { SHARD_MAP: map });
    t.regex(second.out, /every database exists/);
    const found = await sql`select datname from pg_database where datname = any(${names}) order by datname`;
    t.deepEqual(
      found.map((r) => r.datname),
      names,
    );
  } finally {
    for (const n of names) await sql.unsafe(`DROP DATABASE IF EXISTS "${n}" WITH (FORCE)`);
    await sql.end();
  }
});
