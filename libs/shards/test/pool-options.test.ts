/**
 * The pool settings reach postgres.js and Postgres sees them: at most `poolMax` connections per database,
 * idle ones closed after `idleTimeout`, and no named prepared statements with `prepare: false` (PgBouncer).
 */
import { openNamespace, stopTestInfra, type TestNamespace, waitFor } from '@instantpost/testing';
import test from 'ava';
import { createShards, parseShardMap } from '../src/index.ts';
import { twoDatabaseMap, withDirect } from './helpers.ts';

let ns: TestNamespace;
let map: { text: string; urls: [string, string] };

test.before(async () => {
  ns = await openNamespace();
  map = await twoDatabaseMap(ns);
});

test.after.always(async () => {
  await ns?.close();
  await stopTestInfra();
});

/** Backends of `application_name` on a database, as Postgres lists them. */
function backends(url: string, application: string): Promise<number> {
  return withDirect(url, async (sql) => {
    const dbName = new URL(url).pathname.slice(1);
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity where datname = ${dbName} and application_name = ${application}`;
    return row?.n ?? 0;
  });
}

test('the options are what postgres.js is given', (t) => {
  const shards = createShards({
    service: 'feed',
    map: parseShardMap(map.text),
    poolMax: 3,
    idleTimeout: 7,
    prepare: false,
  });
  for (const db of shards.databases) {
    t.is(db.sql.options.max, 3);
    t.is(db.sql.options.idle_timeout, 7);
    t.false(db.sql.options.prepare);
  }
  t.is(shards.poolMax, 3);
  return shards.close();
});

test('a pool never opens more than poolMax connections to a database, and idle ones close', async (t) => {
  const shards = createShards({
    service: 'upload',
    map: parseShardMap(map.text),
    poolMax: 2,
    idleTimeout: 1,
  });
  try {
    const s = shards.forShard(0);
    const pids = await Promise.all(
      Array.from(
        { length: 8 },
        () => s.sql<{ pid: number }[]>`select pg_backend_pid() as pid, pg_sleep(0.05)`,
      ),
    );
    t.true(new Set(pids.map(([row]) => row?.pid)).size <= 2);
    t.true((await backends(map.urls[0], 'upload')) <= 2);
    await waitFor('idle connections closed', async () => (await backends(map.urls[0], 'upload')) === 0);
    t.is(await backends(map.urls[0], 'upload'), 0);
  } finally {
    await shards.close();
  }
});

test('prepare: false leaves no named prepared statement on the server connection', async (t) => {
  const preparedOn = async (prepare: boolean) => {
    const shards = createShards({
      service: 'metadata',
      map: parseShardMap(map.text),
      poolMax: 1,
      prepare,
    });
    try {
      const sql = shards.forShard(0).sql;
      await sql`select ${1}::int as one`;
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from pg_prepared_statements`;
      return row?.n ?? -1;
    } finally {
      await shards.close();
    }
  };
  t.true((await preparedOn(true)) > 0, 'postgres.js prepares by default');
  t.is(await preparedOn(false), 0);
});

test('deadlines on every connection: a long statement is cancelled, an idle transaction is ended', async (t) => {
  const shards = createShards({
    service: 'deadlines',
    map: parseShardMap(map.text),
    poolMax: 2,
    statementTimeoutMs: 200,
    idleInTransactionTimeoutMs: 300,
  });
  t.teardown(() => shards.close());
  const shard = shards.forShard(0);
  const slow = await t.throwsAsync(shard.sql`select pg_sleep(5)`);
  t.regex(slow?.message ?? '', /statement timeout/);
  const abandoned = await t.throwsAsync(
    shard.sql.begin(async (tx) => {
      await tx`select 1`;
      await new Promise((resolve) => setTimeout(resolve, 1000)); // a client that hangs mid-transaction
      await tx`select 1`;
    }),
  );
  t.truthy(abandoned, 'the server ended the idle transaction');
  const [row] = await shard.sql<{ ok: number }[]>`select 1 as ok`;
  t.is(row?.ok, 1, 'the pool goes on with fresh connections');
});
