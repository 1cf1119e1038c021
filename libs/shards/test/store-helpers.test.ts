import { encode } from '@instantpost/ids';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import anyTest, { type TestFn } from 'ava';
import {
  createShards,
  groupByShard,
  inTransaction,
  inTransactionPerDatabase,
  migrate,
  parseShardMap,
  type Shards,
} from '../src/index.ts';
import { migrationsDir, removeDir, twoDatabaseMap } from './helpers.ts';

interface Context {
  ns: TestNamespace;
  shards: Shards;
  dir: string;
}
const test = anyTest as TestFn<Context>;

const idOn = (shard: number, sequence = 0) => encode({ time: Date.now(), shard, sequence }).toString();

test.before(async (t) => {
  const ns = await openNamespace();
  const { text } = await twoDatabaseMap(ns, 4);
  const shards = createShards({ service: 'metadata', map: parseShardMap(text), poolMax: 2 });
  const dir = await migrationsDir({
    '0001_notes.sql': 'CREATE TABLE notes (id bigint PRIMARY KEY, text text NOT NULL);',
  });
  await migrate({ shards, sources: [{ name: 'metadata', dir }] });
  t.context = { ns, shards, dir };
});

test.after.always(async (t) => {
  await t.context.shards?.close();
  await removeDir(t.context.dir);
  await t.context.ns?.close();
  await stopTestInfra();
});

test('groupByShard: one group per shard in shard order, item order kept, foreign shards set apart', (t) => {
  const { shards } = t.context;
  const [a, b, c, d, foreign] = [idOn(2), idOn(0), idOn(2, 1), idOn(3), idOn(100)];
  const { groups, outside } = groupByShard(shards, [a, b, foreign, c, d]);
  t.deepEqual(
    groups.map((g) => [g.shard.schema, g.items]),
    [
      ['metadata_0000', [b]],
      ['metadata_0002', [a, c]],
      ['metadata_0003', [d]],
    ],
  );
  t.is(groups[1]?.shard, shards.forShard(2));
  t.deepEqual(outside, [foreign]);
  t.deepEqual(groupByShard(shards, []), { groups: [], outside: [] });
  t.throws(() => groupByShard(shards, ['12abc']), { name: 'IdError' });
});

test('groupByShard with idOf keeps whole items, grouped by the id it picks', (t) => {
  const { shards } = t.context;
  const entries = [
    { postId: 'p1', authorId: idOn(1) },
    { postId: 'p2', authorId: idOn(3) },
    { postId: 'p3', authorId: idOn(1, 5) },
  ];
  const { groups } = groupByShard(shards, entries, (e) => e.authorId);
  t.deepEqual(
    groups.map((g) => [g.shard.shard, g.items.map((e) => e.postId)]),
    [
      [1, ['p1', 'p3']],
      [3, ['p2']],
    ],
  );
});

test.serial(
  'inTransaction commits what resolves and rolls back what throws, on the shard’s schema',
  async (t) => {
    const { shards } = t.context;
    const shard = shards.forShard(3);
    const kept = idOn(3, 1);
    const dropped = idOn(3, 2);
    const result = await inTransaction(shard, async (tx) => {
      t.is(tx.schema, 'metadata_0003');
      await tx.sql`INSERT INTO ${tx.table('notes')} (id, text) VALUES (${kept}, 'kept')`;
      return 'done';
    });
    t.is(result, 'done');
    await t.throwsAsync(
      inTransaction(shard, async (tx) => {
        await tx.sql`INSERT INTO ${tx.table('notes')} (id, text) VALUES (${dropped}, 'dropped')`;
        throw new Error('changed my mind');
      }),
      { message: 'changed my mind' },
    );
    const rows = await shard.sql<{ id: string }[]>`SELECT id FROM ${shard.table('notes')} ORDER BY id`;
    t.deepEqual(
      rows.map((r) => r.id),
      [kept],
    );
  },
);

/** A table of its own in every shard schema, so these tests do not see the notes of the others. */
async function freshTable(shards: Shards, name: string): Promise<void> {
  for (const shard of shards.logicalShards.map((n) => shards.forShard(n))) {
    await shard.sql`CREATE TABLE ${shard.table(name)} (id bigint PRIMARY KEY)`;
  }
}

const idsIn = async (shards: Shards, shard: number, table: string) =>
  (
    await shards.forShard(shard).sql<{ id: string }[]>`SELECT id FROM ${shards.forShard(shard).table(table)}`
  ).map((r) => r.id);

test.serial(
  'inTransactionPerDatabase: the shards of one database share one transaction, each with its own schema',
  async (t) => {
    const { shards } = t.context;
    await freshTable(shards, 'per_database');
    const ids = [idOn(0), idOn(1), idOn(2), idOn(3), idOn(1, 1)];
    const { groups } = groupByShard(shards, ids);
    const results = await inTransactionPerDatabase(groups, async (tx, mine) => {
      await tx.sql`INSERT INTO ${tx.table('per_database')} SELECT unnest(${mine}::bigint[])`;
      const [row] = await tx.sql<{ txid: string }[]>`SELECT txid_current()::text AS txid`;
      return { schema: tx.schema, txid: row?.txid };
    });
    t.deepEqual(
      results.map((r) => r.schema),
      ['metadata_0000', 'metadata_0001', 'metadata_0002', 'metadata_0003'],
      'results in the order of the groups',
    );
    // the map puts shards 0-1 on one database and 2-3 on the other
    t.is(results[0]?.txid, results[1]?.txid, 'shards 0 and 1: one transaction');
    t.is(results[2]?.txid, results[3]?.txid, 'shards 2 and 3: one transaction');
    t.not(results[0]?.txid, results[2]?.txid, 'a transaction per database');
    t.deepEqual((await idsIn(shards, 1, 'per_database')).sort(), [ids[1], ids[4]].sort());
    t.deepEqual(await idsIn(shards, 2, 'per_database'), [ids[2]]);
  },
);

test.serial(
  'inTransactionPerDatabase: a failure on one shard rolls back the other shards of its database and is thrown',
  async (t) => {
    const { shards } = t.context;
    await freshTable(shards, 'per_database_failed');
    const { groups } = groupByShard(shards, [idOn(0), idOn(1)]);
    await t.throwsAsync(
      inTransactionPerDatabase(groups, async (tx, mine) => {
        await tx.sql`INSERT INTO ${tx.table('per_database_failed')} SELECT unnest(${mine}::bigint[])`;
        if (tx.shard === 1) throw new Error('shard 1 gives up');
      }),
      { message: 'shard 1 gives up' },
    );
    t.deepEqual(await idsIn(shards, 0, 'per_database_failed'), [], 'shard 0 rolled back with shard 1');
  },
);

test.serial(
  'inTransactionPerDatabase: a transaction refused by a moving shard’s fence runs again shard by shard',
  async (t) => {
    const { shards } = t.context;
    await freshTable(shards, 'per_database_fenced');
    const fenced = shards.forShard(1);
    // Refuses the first write only, as a fence does until the move is over (a sequence: not rolled back).
    await fenced.sql.unsafe(`
      CREATE SEQUENCE ${fenced.schema}.fence_once;
      CREATE FUNCTION ${fenced.schema}.fence_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('${fenced.schema}.fence_once') = 1 THEN
          RAISE EXCEPTION 'shard is moving' USING ERRCODE = 'IPMOV';
        END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER fence_once BEFORE INSERT ON ${fenced.schema}.per_database_fenced
        FOR EACH STATEMENT EXECUTE FUNCTION ${fenced.schema}.fence_once();`);
    const ids = [idOn(0), idOn(1), idOn(2)];
    const runs: number[] = [];
    await inTransactionPerDatabase(groupByShard(shards, ids).groups, async (tx, mine) => {
      runs.push(tx.shard);
      await tx.sql`INSERT INTO ${tx.table('per_database_fenced')} SELECT unnest(${mine}::bigint[])`;
    });
    t.deepEqual(
      runs.sort(),
      [0, 0, 1, 1, 2],
      'shards 0 and 1 ran together, were refused, and ran again alone; shard 2 once',
    );
    for (const [i, id] of ids.entries()) t.deepEqual(await idsIn(shards, i, 'per_database_fenced'), [id]);
  },
);
