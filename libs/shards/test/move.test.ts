import {
  openNamespace,
  type PrivatePostgres,
  runCommand,
  startPrivatePostgres,
  stopTestInfra,
  type TestNamespace,
} from '@instantpost/testing';
import test from 'ava';
import { connect, type NatsConnection } from 'nats';
import {
  abortMove,
  createShards,
  inTransaction,
  type MoveStep,
  migrate,
  moveShard,
  onShard,
  openShardMapStore,
  parseShardMap,
  rangesOf,
  type ShardMapStore,
  type Shards,
} from '../src/index.ts';
import { MOVE_LOCK_KEY } from '../src/replication.ts';
import { migrationsDir, removeDir, withDirect } from './helpers.ts';

let pg: PrivatePostgres;
let ns: TestNamespace;
let nc: NatsConnection;
let dir: string;
let urls: { a: string; b: string };

const NOTES = 'CREATE TABLE notes (id bigint PRIMARY KEY DEFAULT next_id(), body text NOT NULL);';
const OUTBOX = `CREATE TABLE outbox (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text);`;

test.before(async () => {
  pg = await startPrivatePostgres({ settings: { wal_level: 'logical' } });
  ns = await openNamespace({ databases: 0 });
  nc = await connect({ servers: ns.nats.servers });
  urls = { a: await pg.createDatabase('move_a'), b: await pg.createDatabase('move_b') };
  dir = await migrationsDir({ '0001_notes.sql': `${NOTES}\n${OUTBOX}` });
});
test.after.always(async () => {
  await nc?.drain();
  await ns?.close();
  await pg?.stop();
  await removeDir(dir);
  await stopTestInfra();
});

/** A map store of its own per test, seeded with 4 shards on a and b, and two services' schemas migrated. */
async function setup(
  label: string,
): Promise<{ store: ShardMapStore; shards: Shards; stop(): Promise<void> }> {
  const store = await openShardMapStore(nc.jetstream(), { prefix: `${ns.nats.prefix}${label}` });
  const seeded = await store.seed(parseShardMap(`0-1=${urls.a};2-3=${urls.b}`));
  for (const service of ['notes', 'other']) {
    const s = createShards({ service, map: rangesOf(seeded), poolMax: 2 });
    await migrate({ shards: s, sources: [{ name: service, dir }] });
    await s.close();
  }
  // What a service does: route by the live map as it changes.
  const shards = createShards({
    service: 'notes',
    map: rangesOf(seeded),
    version: seeded.version,
    poolMax: 4,
  });
  const watcher = await store.watch((m) => void shards.apply(rangesOf(m), m.version));
  return {
    store,
    shards,
    stop: async () => {
      watcher.stop();
      await shards.close();
    },
  };
}

/** Writes to `shard` until stopped; every acknowledged id and the longest wait of one write. */
function writer(shards: Shards, shard: number) {
  const ids: bigint[] = [];
  const errors: unknown[] = [];
  let longest = 0;
  let running = true;
  const done = (async () => {
    while (running) {
      const started = Date.now();
      try {
        const id = await inTransaction(shards.forShard(shard), async (tx) => {
          const [row] = await tx.sql<
            { id: string }[]
          >`INSERT INTO ${tx.table('notes')} (body) VALUES ('x') RETURNING id`;
          await tx.sql`INSERT INTO ${tx.table('outbox')} (body) VALUES ('e')`;
          return BigInt(row?.id ?? 0);
        });
        ids.push(id);
      } catch (error) {
        errors.push(error);
      }
      longest = Math.max(longest, Date.now() - started);
    }
  })();
  return {
    ids,
    errors,
    stop: async () => {
      running = false;
      await done;
      return longest;
    },
  };
}

const count = (url: string, table: string) =>
  withDirect(url, async (sql) =>
    Number((await sql.unsafe<{ n: string }[]>(`SELECT count(*) AS n FROM ${table}`))[0]?.n),
  );
const schemas = (url: string) =>
  withDirect(url, async (sql) =>
    (
      await sql<
        { nspname: string }[]
      >`SELECT nspname FROM pg_namespace WHERE nspname LIKE '%_0001' ORDER BY 1`
    ).map((r) => r.nspname),
  );

test.serial(
  'a shard moves to a new database while it is written, and back; nothing lost, ids keep growing',
  async (t) => {
    const { store, shards, stop } = await setup('m');
    try {
      const c = new URL(urls.a);
      c.pathname = '/move_c';
      const target = c.toString();
      const w = writer(shards, 1);
      await new Promise((r) => setTimeout(r, 300));
      const lines: string[] = [];
      const versionBefore = (await store.get())?.version ?? 0;
      const beforeMove = w.ids.length;
      const result = await moveShard({
        store,
        shard: 1,
        target,
        log: (l) => lines.push(l),
        retireGraceMs: 200,
      });
      const afterMove = w.ids.length;
      await new Promise((r) => setTimeout(r, 300));
      const longest = await w.stop();
      t.log(lines.join('\n'));
      t.log(`${w.ids.length} writes, longest ${longest} ms, fenced ${result.fencedMs} ms`);
      t.deepEqual(w.errors, []);
      t.true(w.ids.length > 10);
      t.true(longest < 1500, `a write waited ${longest} ms`);
      const map = await store.get();
      t.is(map?.shards[1], target);
      t.deepEqual(map?.moves, {});
      t.true((map?.version ?? 0) > versionBefore);
      t.is(shards.version, map?.version ?? -1);
      t.is(
        await count(target, 'notes_0001.notes'),
        w.ids.length,
        'every acknowledged write is on the new database',
      );
      t.is(await count(target, 'notes_0001.outbox'), w.ids.length);
      t.deepEqual(await schemas(target), ['notes_0001', 'other_0001']);
      t.deepEqual(await schemas(urls.a), [], 'the old copy is gone');
      // Instagram ids are ordered by millisecond, not strictly within one (the 10-bit sequence wraps), so
      // what a move must keep is: no id twice, and every id issued on the new database above every id
      // issued before the move.
      t.is(new Set(w.ids).size, w.ids.length, 'no id issued twice');
      let maxBefore = 0n; // Math.max takes no bigint
      for (const id of w.ids.slice(0, beforeMove)) if (id > maxBefore) maxBefore = id;
      t.true(
        w.ids.slice(afterMove).every((id) => id > maxBefore),
        'every id after the move is above every id before it',
      );

      // Move it back while written again.
      const w2 = writer(shards, 1);
      await moveShard({ store, shard: 1, target: urls.a, retireGraceMs: 200 });
      await w2.stop();
      t.deepEqual(w2.errors, []);
      const all = [...w.ids, ...w2.ids];
      t.true((w2.ids[0] ?? 0n) > (w.ids.at(-1) ?? 0n));
      t.is(await count(urls.a, 'notes_0001.notes'), all.length);
      t.deepEqual(await schemas(target), []);
      // A run on a shard already there changes nothing.
      const again = await moveShard({ store, shard: 1, target: urls.a });
      t.is(again.version, (await store.get())?.version ?? -1);
    } finally {
      await stop();
    }
  },
);

for (const crashAt of ['copying', 'fencing', 'caught-up', 'retiring'] as const) {
  test.serial(
    `a mover killed ${crashAt === 'copying' ? 'during the initial copy' : `after step ${crashAt}`} runs again and finishes`,
    async (t) => {
      const { store, shards, stop } = await setup(crashAt.replace('-', ''));
      try {
        const before = await inTransaction(shards.forShard(1), async (tx) => {
          await tx.sql`INSERT INTO ${tx.table('notes')} (body) SELECT 'old' FROM generate_series(1, 500)`;
          const [row] = await tx.sql<{ id: string }[]>`SELECT max(id)::text AS id FROM ${tx.table('notes')}`;
          return BigInt(row?.id ?? 0);
        });
        const rows = await count(urls.a, 'notes_0001.notes');
        const crash = (step: MoveStep | 'done') => {
          if (step === crashAt) throw new Error(`killed after ${step}`);
        };
        await t.throwsAsync(() =>
          moveShard({
            store,
            shard: 1,
            target: urls.b,
            retireGraceMs: 0,
            afterStep: crashAt === 'copying' ? undefined : crash,
            log: (l) => {
              if (crashAt === 'copying' && l.includes('initial copy done'))
                throw new Error('killed while copying');
            },
          }),
        );
        t.is((await store.get())?.moves[1]?.to, urls.b, 'the map remembers the move');
        await moveShard({ store, shard: 1, target: urls.b, retireGraceMs: 0 });
        const map = await store.get();
        t.is(map?.shards[1], urls.b);
        t.deepEqual(map?.moves, {});
        t.is(await count(urls.b, 'notes_0001.notes'), rows);
        t.deepEqual(await schemas(urls.a), []);
        await new Promise((r) => setTimeout(r, 200));
        const [row] = await shards.forShard(1).sql<{ id: string }[]>`
        INSERT INTO ${shards.forShard(1).table('notes')} (body) VALUES ('new') RETURNING id`;
        t.true(BigInt(row?.id ?? 0) > before, 'next_id() on the new database continues above every old id');
        // Back to a for the next test.
        await moveShard({ store, shard: 1, target: urls.a, retireGraceMs: 0 });
      } finally {
        await stop();
      }
    },
  );
}

test.serial(
  'an id minted alone (SELECT next_id()) while the shard is fenced waits and is minted on the new database',
  async (t) => {
    const { store, shards, stop } = await setup('mint');
    try {
      const c = new URL(urls.a);
      c.pathname = '/move_mint';
      const target = c.toString();
      const mint = () =>
        onShard(shards.forShard(1), async (s) => {
          const [row] = await s.sql<{ id: string }[]>`SELECT ${s.sql(s.schema)}.next_id() AS id`;
          return BigInt(row?.id ?? 0);
        });
      const before = await mint();
      let during: Promise<bigint> | undefined;
      let refused: unknown;
      await moveShard({
        store,
        shard: 1,
        target,
        retireGraceMs: 0,
        afterStep: async (step) => {
          if (step !== 'caught-up') return;
          refused = await withDirect(urls.a, (sql) => sql`SELECT notes_0001.next_id()`).catch(
            (e: unknown) => e,
          );
          during = mint();
        },
      });
      t.is((refused as { code?: string } | undefined)?.code, 'IPMOV', 'the fenced source mints no id');
      const id = await (during as Promise<bigint>);
      t.true(id > before);
      const [last] = await withDirect(
        target,
        (sql) => sql<{ v: string }[]>`SELECT last_value::text AS v FROM notes_0001.id_seq`,
      );
      t.true(Number(last?.v) > 0, 'minted from the sequence carried over to the new database');
      await moveShard({ store, shard: 1, target: urls.a, retireGraceMs: 0 });
    } finally {
      await stop();
    }
  },
);

test.serial(
  'move --abort before the flip: writers waiting at the fence go on where they were; migrations wait for a move and a move for migrations',
  async (t) => {
    const { store, shards, stop } = await setup('abort');
    try {
      const c = new URL(urls.a);
      c.pathname = '/move_abort';
      const target = c.toString();
      // A move does not start while a migration runs on the source.
      await withDirect(urls.a, async (sql) => {
        const conn = await sql.reserve();
        await conn`SELECT pg_advisory_lock_shared(${MOVE_LOCK_KEY}::bigint)`;
        await t.throwsAsync(() => moveShard({ store, shard: 1, target }), { code: 'SHARD_MOVE_MIGRATING' });
        await conn`SELECT pg_advisory_unlock_shared(${MOVE_LOCK_KEY}::bigint)`;
        conn.release();
      });
      // The mover dies after fencing and catching up, before the flip: writes of shard 1 wait at the fence.
      await t.throwsAsync(() =>
        moveShard({
          store,
          shard: 1,
          target,
          afterStep: (step) => {
            if (step === 'caught-up') throw new Error('killed before the flip');
          },
        }),
      );
      // Migrations leave the moving shard alone: nothing pending is fine, a pending file is refused.
      const live = await store.get();
      if (!live) throw new Error('no map');
      const notes = createShards({ service: 'notes', map: rangesOf(live), poolMax: 2 });
      try {
        await migrate({ shards: notes, sources: [{ name: 'notes', dir }] });
        const more = await migrationsDir({ '0002_more.sql': 'ALTER TABLE notes ADD COLUMN extra text;' });
        try {
          await t.throwsAsync(
            () =>
              migrate({
                shards: notes,
                sources: [
                  { name: 'notes', dir },
                  { name: 'more', dir: more },
                ],
              }),
            { code: 'MIGRATION_SHARD_MOVING' },
          );
        } finally {
          await removeDir(more);
        }
      } finally {
        await notes.close();
      }
      const w = writer(shards, 1);
      await new Promise((r) => setTimeout(r, 300));
      t.is(w.ids.length, 0, 'writes wait at the fence');
      const lines: string[] = [];
      const aborted = await abortMove({ store, shard: 1, log: (l) => lines.push(l) });
      await new Promise((r) => setTimeout(r, 500));
      await w.stop();
      t.log(lines.join('\n'));
      t.true(aborted.aborted);
      t.deepEqual(w.errors, [], 'no write failed');
      t.true(w.ids.length > 0, 'writes went on, on the old database');
      const map = await store.get();
      t.is(map?.shards[1], urls.a);
      t.deepEqual(map?.moves, {});
      t.deepEqual(await schemas(target), [], 'the partial copy is gone');
      t.deepEqual(await schemas(urls.a), ['notes_0001', 'other_0001']);
      const leftovers = await withDirect(
        urls.a,
        (sql) =>
          sql`SELECT (SELECT count(*) FROM pg_publication)::int AS p, (SELECT count(*) FROM pg_replication_slots)::int AS s`,
      );
      t.deepEqual([...leftovers], [{ p: 0, s: 0 }]);
      t.false((await abortMove({ store, shard: 1 })).aborted, 'a second abort has nothing to do');
      // The shard moves afterwards as if nothing happened, and a flipped move cannot be given up.
      await moveShard({
        store,
        shard: 1,
        target,
        retireGraceMs: 0,
        afterStep: async (step) => {
          if (step === 'retiring')
            await t.throwsAsync(() => abortMove({ store, shard: 1 }), { code: 'SHARD_MOVE_ABORTED' });
        },
      });
      t.is((await store.get())?.shards[1], target);
      await moveShard({ store, shard: 1, target: urls.a, retireGraceMs: 0 });
    } finally {
      await stop();
    }
  },
);

test.serial(
  'npm run shards -- move prints its progress and exits 0; map --json prints the new route',
  async (t) => {
    const label = 'cli';
    const { store, stop } = await setup(label);
    await stop();
    const env = {
      NATS_URL: ns.nats.servers,
      NATS_PREFIX: `${ns.nats.prefix}${label}`,
      SHARD_MAP: `0-1=${urls.a};2-3=${urls.b}`,
    };
    const cli = new URL('../src/cli.ts', import.meta.url);
    const target = new URL(urls.a);
    target.pathname = '/move_cli';
    const moved = runCommand(cli, ['move', '2', target.toString(), '--retire-grace-ms', '0'], env);
    t.is(moved.status, 0, moved.stderr);
    t.regex(moved.stdout, /step fencing[\s\S]*step retiring[\s\S]*done/);
    const shown = runCommand(cli, ['map', '--json'], env);
    t.is(shown.status, 0, shown.stderr);
    const json = JSON.parse(shown.stdout) as { version: number; shards: Record<string, string> };
    t.is(json.shards['2'], target.toString());
    t.is(json.shards['3'], urls.b);
    t.is(json.version, (await store.get())?.version ?? -1);
    const again = runCommand(cli, ['move', '2', target.toString()], env);
    t.is(again.status, 0);
    t.regex(again.stdout, /already on/);
    // SHARD_MAP still names the old database; status --live looks where the live map puts the shard.
    const stale = runCommand(cli, ['status', '--service', 'notes', '--dir', dir], env);
    t.is(stale.status, 3, 'by SHARD_MAP, shard 2 looks missing');
    const live = runCommand(cli, ['status', '--service', 'notes', '--dir', dir, '--live'], env);
    t.is(live.status, 0, live.stdout + live.stderr);
    t.regex(live.stdout, /\(live map\)[\s\S]*move_cli/);
    // A fourth database added: rebalance plans one move per database over its share, and applies it.
    const fourth = new URL(urls.a);
    fourth.pathname = '/move_cli_fourth';
    const planned = runCommand(cli, ['rebalance', '--database', fourth.toString()], env);
    t.is(planned.status, 0, planned.stderr);
    t.regex(planned.stdout, /1 move\(s\)[\s\S]*move 1 postgres:\/\/postgres@[^ ]+\/move_cli_fourth/);
    t.regex(planned.stdout, /--apply/);
    t.is((await store.get())?.shards[1], urls.a, 'a plan moves nothing');
    const applied = runCommand(
      cli,
      ['rebalance', '--database', fourth.toString(), '--apply', '--retire-grace-ms', '0'],
      env,
    );
    t.is(applied.status, 0, applied.stderr);
    t.regex(applied.stdout, /\[1\/1\] shard 1[\s\S]*done[\s\S]*rebalanced/);
    t.is((await store.get())?.shards[1], fourth.toString());
    t.regex(runCommand(cli, ['rebalance'], env).stdout, /nothing to move/);
  },
);
