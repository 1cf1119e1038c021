import { setTimeout as sleep } from 'node:timers/promises';
import { decode, encode, shardOf } from '@instantpost/ids';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import anyTest, { type TestFn } from 'ava';
import {
  createShards,
  hashToShard,
  migrate,
  parseShardMap,
  type ShardError,
  ShardErrorCodes,
  type Shards,
} from '../src/index.ts';
import { migrationsDir, removeDir, twoDatabaseMap, withDirect } from './helpers.ts';

interface Context {
  ns: TestNamespace;
  urls: [string, string];
  shards: Shards;
  dir: string;
}
const test = anyTest as TestFn<Context>;

const MIGRATIONS = {
  '0001_users.sql': `
    CREATE TABLE users (
      id bigint PRIMARY KEY DEFAULT next_id(),
      username text NOT NULL UNIQUE
    );`,
  '0002_posts.sql': `
    CREATE TABLE posts (
      id bigint PRIMARY KEY DEFAULT next_id(),
      user_id bigint NOT NULL,
      caption text NOT NULL
    );
    CREATE INDEX posts_by_user ON posts (user_id, id DESC);`,
};

test.before(async (t) => {
  const ns = await openNamespace();
  const { text, urls } = await twoDatabaseMap(ns, 16);
  const shards = createShards({ service: 'metadata', map: parseShardMap(text), poolMax: 2 });
  const dir = await migrationsDir(MIGRATIONS);
  await migrate({ shards, sources: [{ name: 'metadata', dir }] });
  t.context = { ns, urls, shards, dir };
});

test.after.always(async (t) => {
  await t.context.shards?.close();
  await removeDir(t.context.dir);
  await t.context.ns?.close();
  await stopTestInfra();
});

test.serial(
  '16 logical shards on two databases: one pool per database, schemas <service>_<4 digits>',
  async (t) => {
    const { shards } = t.context;
    t.deepEqual(
      shards.logicalShards,
      Array.from({ length: 16 }, (_, i) => i),
    );
    t.is(shards.databases.length, 2);
    t.deepEqual(shards.databases[0]?.shards, [0, 1, 2, 3, 4, 5, 6, 7]);
    t.is(shards.forShard(7).schema, 'metadata_0007');
    t.is(shards.forShard(3).sql, shards.forShard(0).sql);
    t.not(shards.forShard(8).sql, shards.forShard(7).sql);
    const where = await shards.fanOut(
      async (s) => {
        const [row] = await s.sql<{ db: string; n: number }[]>`
        select current_database() as db, count(*)::int as n from ${s.table('users')}`;
        return `${row?.db}:${s.schema}:${row?.n}`;
      },
      { concurrency: 2 },
    );
    const names = t.context.urls.map((u) => new URL(u).pathname.slice(1));
    t.deepEqual(
      where,
      shards.logicalShards.map((s) => `${names[s < 8 ? 0 : 1]}:metadata_${String(s).padStart(4, '0')}:0`),
    );
    const other = createShards({
      service: 'media-processing',
      map: parseShardMap(`0-3=${t.context.urls[0]}`),
    });
    t.is(other.forShard(3).schema, 'media_processing_0003');
    await other.close();
  },
);

test.serial('unknown shards, foreign ids and bad names are refused', (t) => {
  const { shards } = t.context;
  for (const bad of [16, -1, 1.5, 8191]) {
    t.is(t.throws<ShardError>(() => shards.forShard(bad))?.code, ShardErrorCodes.UnknownShard);
  }
  const foreign = encode({ time: Date.now(), shard: 100, sequence: 0 });
  t.regex(
    t.throws(() => shards.forId(foreign))?.message ?? '',
    /belongs to shard 100, which is not in the shard map/,
  );
  t.throws(() => shards.forId('12abc'), { name: 'IdError' });
  t.is(t.throws<ShardError>(() => shards.forShard(1).table('posts; drop'))?.code, ShardErrorCodes.BadName);
  const badService = t.throws<ShardError>(() =>
    createShards({ service: 'Bad_Name', map: parseShardMap(`0=${t.context.urls[0]}`) }),
  );
  t.is(badService?.code, ShardErrorCodes.BadName);
  t.regex(badService?.message ?? '', /service name must be lowercase/);
});

test.serial('rows written through forId land in the database and schema of the id’s shard', async (t) => {
  const { shards, urls } = t.context;
  const users: { id: string; shard: number }[] = [];
  for (let i = 0; i < 40; i++) {
    const shard = shards.shardForNewUser();
    const s = shards.forShard(shard);
    const [row] = await s.sql<{ id: string }[]>`
      insert into ${s.table('users')} (username) values (${`user${i}`}) returning id`;
    users.push({ id: row?.id ?? '', shard });
  }
  // The user's shard is in the user id; everything the user creates later goes there.
  const posts: { id: string; userId: string }[] = [];
  for (const user of users) {
    t.is(shardOf(user.id), user.shard);
    for (let p = 0; p < 3; p++) {
      const s = shards.forId(user.id);
      const [row] = await s.sql<{ id: string }[]>`
        insert into ${s.table('posts')} (user_id, caption) values (${user.id}, ${`by ${user.id}`}) returning id`;
      t.is(decode(BigInt(row?.id ?? '0')).shard, user.shard, 'a post id decodes to its author’s shard');
      posts.push({ id: row?.id ?? '', userId: user.id });
    }
  }
  // Look at the databases directly: each post is in exactly one place, the expected one.
  const found = new Map<string, string>();
  for (const [d, url] of urls.entries()) {
    await withDirect(url, async (sql) => {
      for (let shard = 0; shard < 16; shard++) {
        const schema = `metadata_${String(shard).padStart(4, '0')}`;
        const exists = await sql`select 1 from pg_namespace where nspname = ${schema}`;
        t.is(exists.length, shard < 8 === (d === 0) ? 1 : 0, `${schema} in database ${d}`);
        if (exists.length === 0) continue;
        const rows = await sql<{ id: string }[]>`select id from ${sql(`${schema}.posts`)}`;
        for (const r of rows) {
          t.false(found.has(r.id), `post ${r.id} stored twice`);
          found.set(r.id, `${d}/${schema}`);
        }
      }
    });
  }
  t.is(found.size, posts.length);
  for (const p of posts) {
    const shard = shardOf(p.userId);
    t.is(found.get(p.id), `${shard < 8 ? 0 : 1}/metadata_${String(shard).padStart(4, '0')}`);
  }
});

test.serial('shardForKey is stable, matches the SQL form and spreads keys evenly', async (t) => {
  const { shards } = t.context;
  const again = createShards({ service: 'feed', map: parseShardMap(`0-15=${t.context.urls[1]}`) });
  const counts = new Array<number>(16).fill(0);
  for (let i = 0; i < 16_000; i++) {
    const key = `user_${i}`;
    const shard = shards.shardForKey(key);
    t.is(again.shardForKey(key), shard);
    counts[shard] = (counts[shard] ?? 0) + 1;
  }
  for (const c of counts) t.true(c > 850 && c < 1150, `uneven: ${counts.join(',')}`);
  // Known values pin the function: changing it would move every key to another shard.
  t.deepEqual(
    ['alice', 'bob', '#sunset', 'ünïcødé'].map((k) => hashToShard(k, 16)),
    await withDirect(t.context.urls[0], async (sql) => {
      const rows = await sql<{ s: number }[]>`
        select (('x' || left(md5(k), 8))::bit(32)::bigint % 16)::int as s
        from unnest(${['alice', 'bob', '#sunset', 'ünïcødé']}::text[]) with ordinality as u(k, n) order by n`;
      return rows.map((r) => r.s);
    }),
  );
  await again.close();
});

test.serial('shardForNewUser spreads new accounts over every shard', (t) => {
  const counts = new Array<number>(16).fill(0);
  for (let i = 0; i < 16_000; i++) {
    const s = t.context.shards.shardForNewUser();
    counts[s] = (counts[s] ?? 0) + 1;
  }
  for (const c of counts) t.true(c > 800 && c < 1200, `uneven: ${counts.join(',')}`);
});

test.serial(
  'fanOut keeps at most poolMax calls in flight per database and returns results in shard order',
  async (t) => {
    const { shards } = t.context;
    const inFlight = new Map<string, number>();
    const peak = new Map<string, number>();
    const results = await shards.fanOut(
      async (s) => {
        const n = (inFlight.get(s.database) ?? 0) + 1;
        inFlight.set(s.database, n);
        peak.set(s.database, Math.max(peak.get(s.database) ?? 0, n));
        await s.sql`select pg_sleep(0.02)`;
        inFlight.set(s.database, (inFlight.get(s.database) ?? 1) - 1);
        return s.shard * 10;
      },
      { concurrency: 50 }, // asks for more than the pool has: capped at poolMax (2)
    );
    t.deepEqual(
      results,
      shards.logicalShards.map((s) => s * 10),
    );
    t.deepEqual([...peak.values()], [2, 2]);
  },
);

test.serial('fanOut stops starting work after a failure and reports the first error', async (t) => {
  const started: number[] = [];
  const error = await t.throwsAsync(
    t.context.shards.fanOut(
      async (s) => {
        started.push(s.shard);
        await sleep(5);
        if (s.shard === 1) throw new Error('shard 1 broke');
        return s.shard;
      },
      { concurrency: 1 },
    ),
  );
  t.is(error?.message, 'shard 1 broke');
  t.true(started.length < 16, `started ${started.length} calls`);
});

test.serial('ping answers for reachable databases and names the one that is not', async (t) => {
  await t.notThrowsAsync(t.context.shards.ping());
  const missing = new URL(t.context.urls[0]);
  missing.pathname = `/${t.context.ns.name}_missing`;
  missing.password = 'hunter2';
  const broken = createShards({
    service: 'metadata',
    map: parseShardMap(`0=${t.context.urls[0]};1=${missing}`),
    poolMax: 1,
    connectTimeout: 2,
  });
  const error = await t.throwsAsync<ShardError>(broken.ping());
  t.is(error?.code, ShardErrorCodes.Unreachable);
  t.regex(error?.message ?? '', /_missing did not answer/);
  t.notRegex(error?.message ?? '', /hunter2/);
  await broken.close();
  await t.notThrowsAsync(broken.close());
});
