/**
 * The local stack with its default pools (PG_POOL_MAX per service, chassis PG_POOL_DEFAULTS) holds at most
 * 40 Postgres connections, after start-up and after every service has fanned out over all its shards
 * (a /metrics scrape reads the outbox of every shard at the pool's concurrency): `npm test` fits beside
 * `npm start` on Postgres's default max_connections of 100.
 */
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import postgres from 'postgres';
import { openTestStack } from './stack-fixture.ts';

const BUDGET = 40;
let ns: TestNamespace;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
});
test.after.always(async () => {
  await ns?.close();
  await stopTestInfra();
});

/** Connections Postgres lists for the namespace's databases (the stack's, and nobody else's). */
async function connectionsOf(databases: readonly string[]): Promise<number> {
  const sql = postgres(ns.infra.postgresUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity where datname = any(${[...databases]})`;
    return row?.n ?? -1;
  } finally {
    await sql.end();
  }
}

test('the running stack holds at most 40 Postgres connections', async (t) => {
  // An empty PG_POOL_MAX is unset: every service runs on its default pool, as `npm start` does.
  const { stack, stop } = await openTestStack(ns, { env: { PG_POOL_MAX: '' } });
  try {
    const afterStart = await connectionsOf(ns.postgres.databases);
    for (let round = 0; round < 3; round++) {
      const scrapes = stack.processes.map(async (p) => {
        const res = await fetch(`http://127.0.0.1:${p.port}/metrics`);
        t.is(res.status, 200, `${p.service} /metrics`);
        await res.arrayBuffer();
      });
      await Promise.all(scrapes);
    }
    const afterBurst = await connectionsOf(ns.postgres.databases);
    t.log(
      `connections: ${afterStart} after start, ${afterBurst} after three rounds of /metrics on every service`,
    );
    t.true(afterStart > 0, 'the stack is connected to its databases');
    t.true(afterStart <= BUDGET, `${afterStart} after start`);
    t.true(afterBurst <= BUDGET, `${afterBurst} after the fan-outs`);
  } finally {
    await stop();
  }
});
