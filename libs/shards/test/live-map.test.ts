import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { connect, type NatsConnection } from 'nats';
import {
  createShards,
  inTransaction,
  liveMapFromJson,
  liveMapToJson,
  onShard,
  openShardMapStore,
  parseShardMap,
  rangesOf,
  SHARD_MOVING_SQLSTATE,
  ShardMoveErrorCodes,
} from '../src/index.ts';
import { twoDatabaseMap, withDirect } from './helpers.ts';

let ns: TestNamespace;
let nc: NatsConnection;

test.before(async () => {
  ns = await openNamespace({ databases: 0 });
  nc = await connect({ servers: ns.nats.servers });
});
test.after.always(async () => {
  await nc?.drain();
  await ns?.close();
  await stopTestInfra();
});

test('the map is seeded once, its version only grows, concurrent changes all land', async (t) => {
  const store = await openShardMapStore(nc.jetstream(), { prefix: `${ns.nats.prefix}a` });
  t.is(await store.get(), undefined);
  const seed = parseShardMap('0-1=postgres://h/a;2-3=postgres://h/b');
  const [first, second] = await Promise.all([store.seed(seed), store.seed(seed)]);
  t.is(first?.version, 1);
  t.deepEqual(first, second);
  t.deepEqual(first?.shards, ['postgres://h/a', 'postgres://h/a', 'postgres://h/b', 'postgres://h/b']);
  // Seeding again with another map changes nothing: the stored map is the authority.
  t.is((await store.seed(parseShardMap('0-3=postgres://h/c'))).version, 1);

  const seen: number[] = [];
  const watcher = await store.watch((m) => seen.push(m.version));
  const moves = await Promise.all(
    [0, 1, 2, 3].map((shard) =>
      store.update((m) => ({ ...m, shards: m.shards.map((u, s) => (s === shard ? 'postgres://h/d' : u)) })),
    ),
  );
  t.deepEqual(moves.map((m) => m.version).sort(), [2, 3, 4, 5]);
  const last = await store.get();
  t.is(last?.version, 5);
  t.deepEqual(last?.shards, Array(4).fill('postgres://h/d'));
  t.is((await store.update(() => undefined)).version, 5, 'no change, no new version');
  await new Promise((r) => setTimeout(r, 200));
  watcher.stop();
  t.deepEqual(
    seen,
    [...seen].sort((a, b) => a - b),
    'versions arrive in order',
  );
  t.is(seen.at(-1), 5);
});

test('the JSON form round-trips, hides passwords unless asked, and refuses a broken map', (t) => {
  const live = {
    version: 3,
    shards: ['postgres://u:secret@h/a', 'postgres://u:secret@h/b'],
    moves: {
      '1': {
        from: 'postgres://u:secret@h/b',
        to: 'postgres://u:secret@h/c',
        step: 'copying' as const,
        startedAt: 'now',
      },
    },
  };
  t.deepEqual(liveMapFromJson(liveMapToJson(live, { reveal: true })), live);
  const shown = liveMapToJson(live);
  t.deepEqual(shown.shards, { '0': 'postgres://u:***@h/a', '1': 'postgres://u:***@h/b' });
  t.false(JSON.stringify(shown).includes('secret'));
  t.throws(() => liveMapFromJson({ version: 1, shards: { '0': 'postgres://h/a', '2': 'postgres://h/b' } }));
  t.throws(() => liveMapFromJson({ shards: {} }));
});

test.serial(
  'apply re-routes a shard to another database, drains the pool no shard uses, refuses another shard count',
  async (t) => {
    const { text, urls } = await twoDatabaseMap(ns, 4);
    const third = await ns.postgres.createDatabase();
    for (const url of [...urls, third])
      await withDirect(url, (sql) =>
        sql`CREATE SCHEMA IF NOT EXISTS t_0003`.then(() => sql`CREATE TABLE t_0003.notes (body text)`),
      );
    const shards = createShards({ service: 't', map: parseShardMap(text), poolMax: 2 });
    try {
      const s3 = shards.forShard(3);
      await s3.sql`INSERT INTO ${s3.table('notes')} VALUES ('before')`;
      const old = s3.sql;
      const seen: number[] = [];
      shards.onChange((v) => seen.push(v));
      // 0-1 on a, 2 on b, 3 on the third database: b keeps shard 2, nothing closes.
      await shards.apply(parseShardMap(`0-1=${urls[0]};2=${urls[1]};3=${third}`), 2);
      t.is(shards.version, 2);
      t.deepEqual(seen, [2]);
      t.not(shards.forShard(3).sql, old, 'the same ShardSql object reads the new pool');
      t.is(shards.forShard(2).sql, old, 'shard 2 keeps its pool');
      await s3.sql`INSERT INTO ${s3.table('notes')} VALUES ('after')`;
      t.deepEqual(
        [...(await withDirect(third, (sql) => sql`SELECT body FROM t_0003.notes`))],
        [{ body: 'after' }],
      );
      await shards.apply(parseShardMap(`0-1=${urls[0]};2=${urls[1]};3=${urls[0]}`), 2);
      t.is(shards.version, 2, 'an equal version is ignored');
      // Everything on a: b's pool is drained and closed.
      await shards.apply(parseShardMap(`0-3=${urls[0]}`), 3);
      t.is(shards.databases.length, 1);
      await t.throwsAsync(() => old`select 1`, undefined, 'the unused pool is closed');
      await t.throwsAsync(() => shards.apply(parseShardMap(`0-4=${urls[0]}`), 4), {
        code: ShardMoveErrorCodes.Shape,
      });
    } finally {
      await shards.close();
    }
  },
);

test.serial('a transaction refused by a move fence waits for the new route and runs there', async (t) => {
  const { text, urls } = await twoDatabaseMap(ns, 2);
  for (const url of urls) {
    await withDirect(url, async (sql) => {
      await sql`CREATE SCHEMA t_0001`;
      await sql`CREATE TABLE t_0001.notes (body text)`;
    });
  }
  // The old copy refuses writes, as the mover's fence does.
  await withDirect(urls[1], (sql) =>
    sql.unsafe(`
      CREATE FUNCTION t_0001.fence() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'moving' USING ERRCODE = '${SHARD_MOVING_SQLSTATE}'; END $$;
      CREATE TRIGGER fence BEFORE INSERT ON t_0001.notes FOR EACH STATEMENT EXECUTE FUNCTION t_0001.fence();`),
  );
  const shards = createShards({ service: 't', map: parseShardMap(text), poolMax: 2 });
  try {
    const started = Date.now();
    let runs = 0;
    const write = inTransaction(shards.forShard(1), async (tx) => {
      runs++;
      await tx.sql`INSERT INTO ${tx.table('notes')} VALUES ('moved')`;
    });
    setTimeout(() => void shards.apply(parseShardMap(`0-1=${urls[0]}`), 2), 300);
    await write;
    // Refused on the fenced copy (re-tried there every 250 ms: a move given up lifts the fence), then run
    // once on the new route.
    t.true(runs >= 2);
    t.true(Date.now() - started >= 250);
    t.deepEqual(
      [...(await withDirect(urls[0], (sql) => sql`SELECT body FROM t_0001.notes`))],
      [{ body: 'moved' }],
    );
    // With no new route in time, the fence's error reaches the caller.
    await withDirect(urls[0], (sql) =>
      sql.unsafe(`
        CREATE FUNCTION t_0001.fence() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'moving' USING ERRCODE = '${SHARD_MOVING_SQLSTATE}'; END $$;
        CREATE TRIGGER fence BEFORE INSERT ON t_0001.notes FOR EACH STATEMENT EXECUTE FUNCTION t_0001.fence();`),
    );
    await t.throwsAsync(
      () =>
        inTransaction(shards.forShard(1), (tx) => tx.sql`INSERT INTO ${tx.table('notes')} VALUES ('x')`, 200),
      { code: SHARD_MOVING_SQLSTATE },
    );
  } finally {
    await shards.close();
  }
});

test.serial(
  'a single statement refused by a move fence waits for the new route and runs there',
  async (t) => {
    const { text, urls } = await twoDatabaseMap(ns, 2);
    for (const url of urls) {
      await withDirect(url, async (sql) => {
        await sql`CREATE SCHEMA t_0001`;
        await sql`CREATE TABLE t_0001.counters (id int PRIMARY KEY, n int NOT NULL)`;
        await sql`INSERT INTO t_0001.counters VALUES (1, 10)`;
      });
    }
    await withDirect(urls[1], (sql) =>
      sql.unsafe(`
      CREATE FUNCTION t_0001.fence() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'moving' USING ERRCODE = '${SHARD_MOVING_SQLSTATE}'; END $$;
      CREATE TRIGGER fence BEFORE UPDATE ON t_0001.counters FOR EACH STATEMENT EXECUTE FUNCTION t_0001.fence();`),
    );
    const shards = createShards({ service: 't', map: parseShardMap(text), poolMax: 2 });
    try {
      const started = Date.now();
      const pools: unknown[] = [];
      const update = onShard(shards.forShard(1), (s) => {
        pools.push(s.sql);
        return s.sql`UPDATE ${s.table('counters')} SET n = n + 1 WHERE id = 1 RETURNING n`;
      });
      setTimeout(() => void shards.apply(parseShardMap(`0-1=${urls[0]}`), 2), 300);
      const [row] = await update;
      t.is(row?.n, 11, 'ran once more, on the new route');
      t.true(pools.length >= 2);
      t.not(pools[0], pools.at(-1), 'each attempt is bound to the pool it ran on');
      t.true(Date.now() - started >= 250);
      const n = async (url: string) =>
        (await withDirect(url, (sql) => sql<{ n: number }[]>`SELECT n FROM t_0001.counters`))[0]?.n;
      t.is(await n(urls[1]), 10, 'the fenced copy was not written');
      // Other errors are not retried, and without a new route in time the fence's error reaches the caller.
      await t.throwsAsync(
        () => onShard(shards.forShard(1), (s) => s.sql`SELECT * FROM ${s.table('nothing')}`),
        {
          code: '42P01',
        },
      );
      await withDirect(urls[0], (sql) =>
        sql.unsafe(`
        CREATE FUNCTION t_0001.fence() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'moving' USING ERRCODE = '${SHARD_MOVING_SQLSTATE}'; END $$;
        CREATE TRIGGER fence BEFORE UPDATE ON t_0001.counters FOR EACH STATEMENT EXECUTE FUNCTION t_0001.fence();`),
      );
      await t.throwsAsync(
        () => onShard(shards.forShard(1), (s) => s.sql`UPDATE ${s.table('counters')} SET n = 0`, 200),
        { code: SHARD_MOVING_SQLSTATE },
      );
    } finally {
      await shards.close();
    }
  },
);

test.serial(
  'a write waiting at a fence that is lifted without a new route (a move given up) runs on the same database',
  async (t) => {
    const { text, urls } = await twoDatabaseMap(ns, 2);
    await withDirect(urls[1], (sql) =>
      sql.unsafe(`
      CREATE SCHEMA t_0001;
      CREATE TABLE t_0001.notes (body text);
      CREATE FUNCTION t_0001.fence() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'moving' USING ERRCODE = '${SHARD_MOVING_SQLSTATE}'; END $$;
      CREATE TRIGGER fence BEFORE INSERT ON t_0001.notes FOR EACH STATEMENT EXECUTE FUNCTION t_0001.fence();`),
    );
    const shards = createShards({ service: 't', map: parseShardMap(text), poolMax: 2 });
    try {
      const write = onShard(
        shards.forShard(1),
        (s) => s.sql`INSERT INTO ${s.table('notes')} VALUES ('stayed')`,
      );
      setTimeout(() => void withDirect(urls[1], (sql) => sql`DROP TRIGGER fence ON t_0001.notes`), 400);
      await write;
      t.deepEqual(
        [...(await withDirect(urls[1], (sql) => sql`SELECT body FROM t_0001.notes`))],
        [{ body: 'stayed' }],
      );
    } finally {
      await shards.close();
    }
  },
);

test('rangesOf groups consecutive shards of one database', (t) => {
  t.deepEqual(rangesOf({ shards: ['a', 'a', 'b', 'a'] }).ranges, [
    { from: 0, to: 1, url: 'a' },
    { from: 2, to: 2, url: 'b' },
    { from: 3, to: 3, url: 'a' },
  ]);
});
