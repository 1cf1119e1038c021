import { randomUUID } from 'node:crypto';
import { busMigrations, handleOnce } from '@instantpost/bus';
import { createShards, migrate, parseShardMap, SHARD_MOVING_SQLSTATE } from '@instantpost/shards';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import postgres from 'postgres';

// The bus's handleOnce on a live Shards view (libs/shards), as consumers run it: a handler transaction the
// fence of a moving shard refuses waits for the new route and runs there instead of failing.

let ns: TestNamespace;
test.before(async () => {
  ns = await openNamespace({ databases: 0 });
});
test.after.always(async () => {
  await ns?.close();
  await stopTestInfra();
});

const direct = async <T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> => {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
};
const fence = (url: string) =>
  direct(url, (sql) =>
    sql.unsafe(`
      CREATE FUNCTION t_0001.fence() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'moving' USING ERRCODE = '${SHARD_MOVING_SQLSTATE}'; END $$;
      CREATE TRIGGER fence BEFORE INSERT ON t_0001.inbox FOR EACH STATEMENT EXECUTE FUNCTION t_0001.fence();`),
  );
const inbox = (url: string) =>
  direct(url, async (sql) =>
    (await sql<{ event_id: string }[]>`SELECT event_id FROM t_0001.inbox`).map((r) => r.event_id),
  );

test('handleOnce refused by a move fence waits for the new route and handles the event there, once', async (t) => {
  const a = await ns.postgres.createDatabase();
  const b = await ns.postgres.createDatabase();
  // shard 1's schema on both databases (a mover would have copied it), the map routing it to b
  for (const url of [a, b]) {
    const s = createShards({ service: 't', map: parseShardMap(`0-1=${url}`), poolMax: 1 });
    await migrate({ shards: s, sources: [busMigrations] });
    await s.close();
  }
  await fence(b);
  const shards = createShards({ service: 't', map: parseShardMap(`0-1=${b}`), poolMax: 2 });
  try {
    const eventId = randomUUID();
    let runs = 0;
    const started = Date.now();
    const handled = handleOnce(shards.forShard(1), 'test-consumer', eventId, async () => {
      runs++;
    });
    setTimeout(() => void shards.apply(parseShardMap(`0-1=${a}`), 2), 300);
    t.true(await handled);
    t.true(Date.now() - started >= 250, 'it waited for the flip');
    t.is(runs, 1, 'the handler ran once, on the new database');
    t.deepEqual(await inbox(a), [eventId]);
    t.deepEqual(await inbox(b), [], 'the fenced copy was not written');
    t.false(await handleOnce(shards.forShard(1), 'test-consumer', eventId, async () => void runs++));
    t.is(runs, 1, 'a redelivery changes nothing');

    // With no new route in time, the fence's error reaches the handler's caller (redelivery retries it).
    await fence(a);
    await t.throwsAsync(
      () => handleOnce(shards.forShard(1), 'test-consumer', randomUUID(), async () => {}, 200),
      { code: SHARD_MOVING_SQLSTATE },
    );
  } finally {
    await shards.close();
  }
});
