import { encode } from '@instantpost/ids';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import anyTest, { type TestFn } from 'ava';
import {
  createShards,
  groupByShard,
  inTransaction,
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
