import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import { startInboxPruner, withInbox } from '../src/index.ts';
import { type Fixture, openFixture } from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openFixture();
});
test.after.always(async () => {
  await fx?.close();
  await stopTestInfra();
});

test('the pruner deletes handled-event records past retention on every shard and keeps the recent ones', async (t) => {
  const shards = [await fx.shard(), await fx.shard()];
  for (const shard of shards) {
    await shard.sql.begin(async (tx) => {
      for (const id of ['old-1', 'old-2', 'new-1']) await withInbox(tx, shard.schema, 'feed-fanout', id);
    });
    await shard.sql.unsafe(
      `UPDATE "${shard.schema}".inbox SET processed_at = now() - interval '9 days' WHERE event_id LIKE 'old-%'`,
    );
  }
  const pruner = startInboxPruner({ shards, retentionMs: 8 * 24 * 3600 * 1000 });
  t.teardown(() => pruner.stop());

  t.is(await pruner.pruneNow(), 4, 'two old records on each of two shards');
  for (const shard of shards) {
    const rows = await shard.sql.unsafe(`SELECT event_id FROM "${shard.schema}".inbox ORDER BY event_id`);
    t.deepEqual(
      rows.map((r) => r.event_id),
      ['new-1'],
    );
    // A recent event is still recognised as a duplicate after pruning.
    t.false(await shard.sql.begin((tx) => withInbox(tx, shard.schema, 'feed-fanout', 'new-1')));
  }
  t.is(await pruner.pruneNow(), 0, 'a second pass finds nothing');
});
