import {
  decode,
  EPOCH_MS,
  encode,
  MAX_SEQUENCE,
  MAX_SHARD,
  MAX_TIME_FIELD,
  nextIdFunctionSql,
} from '@instantpost/ids';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import anyTest, { type TestFn } from 'ava';
import fc from 'fast-check';
import postgres from 'postgres';
import { bootstrapSql } from '../src/index.ts';

const test = anyTest as TestFn<{ ns: TestNamespace; url: string }>;

test.before(async (t) => {
  const ns = await openNamespace();
  const url = await ns.postgres.createDatabase('ids');
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql.unsafe(bootstrapSql('s_0005', 5));
  await sql.unsafe(bootstrapSql('s_8191', 8191));
  await sql.unsafe(bootstrapSql('s_0042', 42));
  await sql.end();
  t.context = { ns, url };
});

test.after.always(async (t) => {
  await t.context.ns?.close();
  await stopTestInfra();
});

test.serial('next_id() ids decode, with libs/ids, to the schema shard and the current time', async (t) => {
  const sql = postgres(t.context.url, { max: 1 });
  try {
    for (const [schema, shard] of [
      ['s_0005', 5],
      ['s_8191', 8191],
    ] as const) {
      const before = Date.now();
      const rows = await sql<{ id: string; t: string; s: number; q: number }[]>`
        select id, (id >> 23) as t, ((id >> 10) & 8191)::int as s, (id & 1023)::int as q
        from (select ${sql(schema)}.next_id() as id from generate_series(1, 3000)) x`;
      const after = Date.now();
      for (const r of rows) {
        const p = decode(BigInt(r.id));
        // Bit for bit: Postgres' own shifts and masks give the same fields as the decoder.
        t.deepEqual([p.time - EPOCH_MS, p.shard, p.sequence], [Number(r.t), r.s, r.q]);
        t.is(p.shard, shard);
        t.true(p.time >= before - 1 && p.time <= after + 1, `${p.time} not in [${before}, ${after}]`);
      }
      t.is(new Set(rows.map((r) => r.id)).size, rows.length);
    }
  } finally {
    await sql.end();
  }
});

test.serial(
  'encode and Postgres bigint arithmetic agree bit for bit over the whole field ranges',
  async (t) => {
    const sql = postgres(t.context.url, { max: 1 });
    try {
      const samples = fc.sample(
        fc.record({
          time: fc.integer({ min: EPOCH_MS, max: EPOCH_MS + MAX_TIME_FIELD }),
          shard: fc.integer({ min: 0, max: MAX_SHARD }),
          sequence: fc.integer({ min: 0, max: MAX_SEQUENCE }),
        }),
        2000,
      );
      samples.push({ time: EPOCH_MS + MAX_TIME_FIELD, shard: MAX_SHARD, sequence: MAX_SEQUENCE });
      const rows = await sql<{ id: string }[]>`
      select ((t - ${EPOCH_MS}::bigint) << 23) | (s << 10) | q as id
      from unnest(${samples.map((p) => p.time)}::bigint[], ${samples.map((p) => p.shard)}::bigint[],
                  ${samples.map((p) => p.sequence)}::bigint[]) with ordinality as u(t, s, q, n)
      order by n`;
      t.deepEqual(
        rows.map((r) => r.id),
        samples.map((p) => encode(p).toString()),
      );
    } finally {
      await sql.end();
    }
  },
);

test.serial('200,000 next_id() ids drawn over 16 connections at once are all unique', async (t) => {
  const sql = postgres(t.context.url, { max: 16 });
  try {
    const connections = 16;
    const perConnection = 12_500;
    const batch = 2_500;
    const started = Date.now();
    const chunks = await Promise.all(
      Array.from({ length: connections }, async () => {
        const ids: string[] = [];
        for (let drawn = 0; drawn < perConnection; drawn += batch) {
          const rows = await sql<
            { id: string }[]
          >`select s_0042.next_id() as id from generate_series(1, ${batch})`;
          for (const r of rows) ids.push(r.id);
        }
        return ids;
      }),
    );
    const all = chunks.flat();
    t.is(all.length, connections * perConnection);
    t.is(new Set(all).size, all.length, 'duplicate ids');
    const perMs = new Map<number, number>();
    for (const id of all) {
      const p = decode(BigInt(id));
      t.is(p.shard, 42);
      perMs.set(p.time, (perMs.get(p.time) ?? 0) + 1);
    }
    t.true(Math.max(...perMs.values()) <= MAX_SEQUENCE + 1);
    t.log(
      `${all.length} ids in ${Date.now() - started} ms, busiest millisecond ${Math.max(...perMs.values())} ids`,
    );
  } finally {
    await sql.end();
  }
});

test.serial(
  'next_id() stays unique when 1024 sequence values are used up before the mark moves',
  async (t) => {
    const sql = postgres(t.context.url, { max: 1 });
    try {
      // Jump the sequence far past the mark: the next call must wait for a new millisecond and publish a mark.
      await sql`select setval('s_0005.id_seq', 5000000)`;
      const [mark0] = await sql<{ v: string }[]>`select last_value::text as v from s_0005.id_mark`;
      const rows = await sql<{ id: string }[]>`select s_0005.next_id() as id from generate_series(1, 20000)`;
      const [mark1] = await sql<{ v: string }[]>`select last_value::text as v from s_0005.id_mark`;
      t.true(BigInt(mark1?.v ?? '0') >= 5_000_000n, `mark moved from ${mark0?.v} to ${mark1?.v}`);
      t.is(new Set(rows.map((r) => r.id)).size, rows.length);
      const perMs = new Map<number, Set<number>>();
      for (const r of rows) {
        const p = decode(BigInt(r.id));
        const seqs = perMs.get(p.time) ?? new Set<number>();
        t.false(seqs.has(p.sequence));
        seqs.add(p.sequence);
        perMs.set(p.time, seqs);
      }
    } finally {
      await sql.end();
    }
  },
);

test.serial(
  'a table column `id bigint DEFAULT <schema>.next_id()` gets ids of that shard, in creation order',
  async (t) => {
    const sql = postgres(t.context.url, { max: 1 });
    try {
      await sql`create table s_8191.posts (id bigint primary key default s_8191.next_id(), caption text not null)`;
      const inserted: string[] = [];
      for (let i = 0; i < 50; i++) {
        const [row] = await sql<
          { id: string }[]
        >`insert into s_8191.posts (caption) values (${`post ${i}`}) returning id`;
        inserted.push(row?.id ?? '');
      }
      const byId = await sql<
        { id: string; caption: string }[]
      >`select id, caption from s_8191.posts order by id`;
      t.deepEqual(
        byId.map((r) => r.caption),
        Array.from({ length: 50 }, (_, i) => `post ${i}`),
      );
      for (const id of inserted) t.is(decode(BigInt(id)).shard, 8191);
    } finally {
      await sql.end();
    }
  },
);

test('nextIdFunctionSql refuses a schema name that is not a plain identifier', (t) => {
  t.throws(() => nextIdFunctionSql({ schema: 'x"; drop table y; --', shard: 1 }), {
    message: /lowercase identifier/,
  });
  t.throws(() => nextIdFunctionSql({ schema: 'ok', shard: 8192 }), {
    message: /shard must be an integer in 0\.\.8191/,
  });
});
