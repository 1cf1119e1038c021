import test from 'ava';
import postgres from 'postgres';
import { startPrivatePostgres } from '../src/index.ts';

test('a private Postgres keeps committed rows across a fast restart and a crash, on the same port', async (t) => {
  const pg = await startPrivatePostgres();
  t.teardown(() => pg.stop());
  const url = await pg.createDatabase('kept');
  // One client across both restarts: postgres.js reconnects by itself.
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  await sql`CREATE TABLE kept (n int PRIMARY KEY)`;
  await sql`INSERT INTO kept VALUES (1)`;

  await pg.restart({ mode: 'fast' });
  await sql`INSERT INTO kept VALUES (2)`;
  await pg.restart({ mode: 'immediate', downMs: 200 });

  const rows = await sql<{ n: number }[]>`SELECT n FROM kept ORDER BY n`;
  t.deepEqual(
    rows.map((r) => r.n),
    [1, 2],
  );
  t.regex(pg.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
});

test('stop() ends the server: the port refuses connections', async (t) => {
  const pg = await startPrivatePostgres();
  await pg.stop();
  const sql = postgres(pg.url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  await t.throwsAsync(sql`SELECT 1`);
  await sql.end({ timeout: 1 });
});
