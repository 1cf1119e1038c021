import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decode } from '@instantpost/ids';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import anyTest, { type TestFn } from 'ava';
import {
  assertMigrated,
  createShards,
  loadMigrations,
  type MigrationError,
  MigrationErrorCodes,
  migrate,
  migrationStatus,
  parseShardMap,
  type Shards,
} from '../src/index.ts';
import { migrationsDir, removeDir, twoDatabaseMap, withDirect } from './helpers.ts';

const test = anyTest as TestFn<{ ns: TestNamespace; cleanup: Array<() => Promise<void>> }>;

test.before(async (t) => {
  t.context = { ns: await openNamespace(), cleanup: [] };
});

test.after.always(async (t) => {
  for (const fn of t.context.cleanup?.reverse() ?? []) await fn();
  await t.context.ns?.close();
  await stopTestInfra();
});

/** Two fresh databases, 16 shards, a service pool set and a migrations directory. */
async function setup(
  t: { context: { ns: TestNamespace; cleanup: Array<() => Promise<void>> } },
  files: Record<string, string>,
) {
  const { text, urls } = await twoDatabaseMap(t.context.ns, 16);
  const map = parseShardMap(text);
  const dir = await migrationsDir(files);
  const open: Shards[] = [];
  const shardsFor = (service = 'metadata') => {
    const s = createShards({ service, map, poolMax: 2 });
    open.push(s);
    return s;
  };
  t.context.cleanup.push(async () => {
    await Promise.all(open.map((s) => s.close()));
    await removeDir(dir);
  });
  return { map, urls, dir, shardsFor };
}

// Deliberately not idempotent: running a file twice, or twice at once, shows up as an error or a count of 2.
const COUNTING = {
  '0001_runs.sql': 'CREATE TABLE runs (file int NOT NULL);\nINSERT INTO runs VALUES (1);',
  '0002_posts.sql':
    'CREATE TABLE posts (id bigint PRIMARY KEY DEFAULT next_id(), caption text);\nINSERT INTO runs VALUES (2);',
};

async function runsPerSchema(urls: readonly string[]): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const url of urls) {
    await withDirect(url, async (sql) => {
      const schemas = await sql<{ nspname: string }[]>`
        select nspname from pg_namespace where nspname like 'metadata\\_%' order by nspname`;
      for (const { nspname } of schemas) {
        const rows = await sql<{ file: number }[]>`select file from ${sql(`${nspname}.runs`)} order by file`;
        out.set(
          nspname,
          rows.map((r) => r.file),
        );
      }
    });
  }
  return out;
}

test.serial(
  'migrate creates every schema with next_id() and applies each file once; a second run does nothing',
  async (t) => {
    const { urls, dir, shardsFor } = await setup(t, COUNTING);
    const shards = shardsFor();
    const sources = [{ name: 'metadata', dir }];
    const first = await migrate({ shards, sources });
    t.is(first.length, 2 * 16);
    t.deepEqual(
      first.filter((s) => s.shard === 9).map((s) => [s.schema, s.source, s.version, s.name]),
      [
        ['metadata_0009', 'metadata', 1, 'runs'],
        ['metadata_0009', 'metadata', 2, 'posts'],
      ],
    );
    t.deepEqual(await migrate({ shards, sources }), []);
    const runs = await runsPerSchema(urls);
    t.is(runs.size, 16);
    for (const [schema, files] of runs) t.deepEqual(files, [1, 2], schema);

    // Unqualified names in the files went to the schema; its next_id() carries its shard.
    const s = shards.forShard(13);
    const [row] = await s.sql<
      { id: string }[]
    >`insert into ${s.table('posts')} (caption) values ('x') returning id`;
    t.is(decode(BigInt(row?.id ?? '0')).shard, 13);
    const recorded = await s.sql<{ source: string; version: number; name: string; checksum: string }[]>`
    select source, version, name, checksum from ${s.table('schema_migrations')} order by version`;
    const files = await loadMigrations(sources);
    t.deepEqual(
      recorded.map((r) => ({ ...r })),
      files.map((f) => ({ source: f.source, version: f.version, name: f.name, checksum: f.checksum })),
    );
  },
);

test.serial(
  'three migrate runs at once from separate pools apply each file exactly once per schema',
  async (t) => {
    const { urls, dir, shardsFor } = await setup(t, COUNTING);
    const sources = [{ name: 'metadata', dir }];
    const runs = await Promise.all([1, 2, 3].map(() => migrate({ shards: shardsFor(), sources })));
    t.is(runs.flat().length, 2 * 16, `applied per run: ${runs.map((r) => r.length).join(', ')}`);
    const perSchema = await runsPerSchema(urls);
    t.is(perSchema.size, 16);
    for (const [schema, files] of perSchema) t.deepEqual(files, [1, 2], schema);
    await t.notThrowsAsync(assertMigrated({ shards: shardsFor(), sources }));
  },
);

test.serial('several sources run in the order given, each with its own versions', async (t) => {
  const { dir: bus, shardsFor } = await setup(t, {
    '0001_outbox.sql':
      'CREATE TABLE outbox (id bigint PRIMARY KEY DEFAULT next_id(), subject text NOT NULL);',
  });
  const own = await migrationsDir({
    '0001_posts.sql': 'CREATE TABLE posts (id bigint PRIMARY KEY, outbox_id bigint REFERENCES outbox (id));',
    'README.md': 'not a migration',
  });
  t.context.cleanup.push(() => removeDir(own));
  const shards = shardsFor();
  const steps = await migrate({
    shards,
    sources: [
      { name: 'bus', dir: bus },
      { name: 'metadata', dir: own },
    ],
  });
  t.deepEqual(
    steps.filter((s) => s.shard === 0).map((s) => `${s.source}:${s.version}`),
    ['bus:1', 'metadata:1'],
  );
  const status = await migrationStatus({
    shards,
    sources: [
      { name: 'bus', dir: bus },
      { name: 'metadata', dir: own },
    ],
  });
  t.is(status.length, 2);
  t.deepEqual(
    status.map((d) => d.shards.map((s) => s.shard)),
    [
      [0, 1, 2, 3, 4, 5, 6, 7],
      [8, 9, 10, 11, 12, 13, 14, 15],
    ],
  );
  for (const s of status.flatMap((d) => d.shards)) {
    t.deepEqual(
      s.applied.map((a) => `${a.source}:${a.version}:${a.name}`),
      ['bus:1:outbox', 'metadata:1:posts'],
    );
    t.deepEqual(s.pending, []);
    t.true(s.initialized);
  }
});

test.serial('migrationStatus lists pending versions per database and logical shard', async (t) => {
  const { urls, dir, shardsFor } = await setup(t, COUNTING);
  const shards = shardsFor();
  const sources = [{ name: 'metadata', dir }];
  const fresh = await migrationStatus({ shards, sources });
  const first = fresh[0]?.shards[0];
  t.false(first?.initialized);
  t.deepEqual(
    first?.pending.map((p) => p.version),
    [1, 2],
  );
  t.is(fresh[1]?.database, urls[1]);
  await migrate({ shards, sources });
  await writeFile(join(dir, '0003_likes.sql'), 'CREATE TABLE likes (post_id bigint NOT NULL);');
  const later = await migrationStatus({ shards, sources });
  for (const s of later.flatMap((d) => d.shards)) {
    t.deepEqual(
      s.applied.map((a) => a.version),
      [1, 2],
    );
    t.deepEqual(s.pending, [{ source: 'metadata', version: 3, name: 'likes' }]);
  }
});

test.serial('assertMigrated names exactly the schemas that are behind', async (t) => {
  const { urls, dir, shardsFor } = await setup(t, COUNTING);
  const shards = shardsFor();
  const sources = [{ name: 'metadata', dir }];
  const before = await t.throwsAsync<MigrationError>(assertMigrated({ shards, sources }));
  t.is(before?.code, MigrationErrorCodes.Behind);
  t.is(before?.schemas.length, 16);
  t.regex(before?.message ?? '', /16 of 16 metadata schemas are behind/);

  await migrate({ shards, sources });
  await t.notThrowsAsync(assertMigrated({ shards, sources }));

  // One schema lost its last migration, another was never created.
  await withDirect(urls[1], (sql) => sql`delete from metadata_0009.schema_migrations where version = 2`);
  await withDirect(urls[0], (sql) => sql`drop schema metadata_0005 cascade`);
  const error = await t.throwsAsync<MigrationError>(assertMigrated({ shards, sources }));
  t.is(error?.name, 'MigrationError');
  t.is(error?.code, MigrationErrorCodes.Behind);
  t.deepEqual([...(error?.schemas ?? [])].sort(), ['metadata_0005', 'metadata_0009']);
  t.regex(error?.message ?? '', /metadata_0005: not created/);
  t.regex(error?.message ?? '', /metadata_0009: pending metadata 0002_posts/);
});

test.serial('a changed checksum of an applied file is refused, and nothing else runs', async (t) => {
  const { urls, dir, shardsFor } = await setup(t, COUNTING);
  const shards = shardsFor();
  const sources = [{ name: 'metadata', dir }];
  await migrate({ shards, sources });
  await writeFile(join(dir, '0002_posts.sql'), `${COUNTING['0002_posts.sql']}\n-- edited after it ran\n`);
  await writeFile(join(dir, '0003_likes.sql'), 'CREATE TABLE likes (post_id bigint NOT NULL);');
  const error = await t.throwsAsync<MigrationError>(migrate({ shards, sources }));
  t.is(error?.code, MigrationErrorCodes.ChecksumMismatch);
  t.is(error?.schemas.length, 16);
  t.regex(
    error?.message ?? '',
    /metadata_0000: metadata 0002_posts\.sql was applied with checksum [0-9a-f]{12}…, the file now has/,
  );
  const likes = await withDirect(urls[0], (sql) => sql`select to_regclass('metadata_0000.likes') as t`);
  t.is(likes[0]?.t, null, '0003 must not run while an applied file has changed');
  const status = await t.throwsAsync<MigrationError>(assertMigrated({ shards, sources }));
  t.is(status?.code, MigrationErrorCodes.ChecksumMismatch);
});

test.serial('a failing file rolls back, is not recorded, and names the schema, file and line', async (t) => {
  const { urls, dir, shardsFor } = await setup(t, {
    '0001_ok.sql': 'CREATE TABLE ok (x int);',
    '0002_broken.sql':
      'CREATE TABLE half (x int);\nINSERT INTO half VALUES (1);\nINSERT INTO nowhere VALUES (1);\n',
  });
  const shards = shardsFor();
  const error = await t.throwsAsync<MigrationError>(
    migrate({ shards, sources: [{ name: 'metadata', dir }] }),
  );
  t.is(error?.code, MigrationErrorCodes.Failed);
  t.regex(
    error?.message ?? '',
    /metadata_00(00|08): metadata 0002_broken\.sql failed at line 3 and was rolled back: relation "nowhere" does not exist/,
  );
  await withDirect(urls[0], async (sql) => {
    const [row] =
      await sql`select to_regclass('metadata_0000.ok') as ok, to_regclass('metadata_0000.half') as half`;
    t.is(row?.ok, 'metadata_0000.ok');
    t.is(row?.half, null);
    const versions = await sql`select version from metadata_0000.schema_migrations`;
    t.deepEqual(
      versions.map((v) => v.version),
      [1],
    );
  });
  // A failure stops that database's run: the next schema was not touched.
  const status = await migrationStatus({ shards, sources: [{ name: 'metadata', dir }] });
  t.false(status[0]?.shards[1]?.initialized);
  // Fixing the file (it never ran, so it may change) lets the next run finish: 0002 in the two schemas
  // that failed, both files in the 14 others.
  await writeFile(join(dir, '0002_broken.sql'), 'CREATE TABLE half (x int);');
  t.is((await migrate({ shards, sources: [{ name: 'metadata', dir }] })).length, 2 + 14 * 2);
});

test.serial('badly named files and missing directories are refused before anything runs', async (t) => {
  const { dir, shardsFor } = await setup(t, { '0001_ok.sql': 'SELECT 1;', '2_bad.sql': 'SELECT 1;' });
  const shards = shardsFor();
  const error = await t.throwsAsync<MigrationError>(
    migrate({ shards, sources: [{ name: 'metadata', dir }] }),
  );
  t.is(error?.code, MigrationErrorCodes.BadSource);
  t.regex(error?.message ?? '', /2_bad\.sql: migration files must be named NNNN_name\.sql/);
  const dup = await migrationsDir({ '0001_a.sql': 'SELECT 1;', '0001_b.sql': 'SELECT 1;' });
  t.context.cleanup.push(() => removeDir(dup));
  t.regex(
    (await t.throwsAsync(migrate({ shards, sources: [{ name: 'metadata', dir: dup }] })))?.message ?? '',
    /version 1 is used by both a and b/,
  );
  t.regex(
    (await t.throwsAsync(migrate({ shards, sources: [{ name: 'metadata', dir: join(dir, 'nope') }] })))
      ?.message ?? '',
    /cannot read directory .*nope/,
  );
  const status = await migrationStatus({ shards, sources: [] });
  t.false(status[0]?.shards[0]?.initialized, 'nothing was created');
});

test.serial('services sharing databases keep separate schemas and locks', async (t) => {
  const { dir, shardsFor } = await setup(t, COUNTING);
  const sources = [{ name: 'x', dir }];
  const [a, b] = await Promise.all([
    migrate({ shards: shardsFor('feed'), sources }),
    migrate({ shards: shardsFor('notification'), sources }),
  ]);
  t.is(a.length, 32);
  t.is(b.length, 32);
  t.deepEqual([a[0]?.schema, b[0]?.schema], ['feed_0000', 'notification_0000']);
});
