import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { nextIdFunctionSql } from '@instantpost/ids';
import type postgres from 'postgres';
import { SHARD_MOVING_SQLSTATE, ShardMoveError, ShardMoveErrorCodes } from './move-errors.ts';
import { redactUrl } from './urls.ts';

/**
 * The Postgres side of a shard move: one source and one target database, the schemas of one logical
 * shard (every service's), and the objects a move creates — all named after the shard, all created and
 * dropped idempotently, so a mover that died at any point can run again.
 */
export interface MoveNames {
  /** Publication, replication slot and subscription. */
  readonly replication: string;
  /** The table replicated last-in-order, whose token tells the copy has caught up. */
  readonly marker: string;
}

/** Outside every service schema: the fence function and the markers. */
export const MOVE_SCHEMA = 'instantpost_move';

export function moveNames(shard: number): MoveNames {
  const n = String(shard).padStart(4, '0');
  return { replication: `instantpost_move_${n}`, marker: `${MOVE_SCHEMA}.shard_${n}` };
}

/**
 * The advisory lock that keeps moves and migrations apart on one database: migrations hold it shared
 * while they run (services migrate side by side), a mover takes it alone for the instant it marks the
 * shard as moving. A migration then sees the mark and leaves that shard alone.
 */
export const MOVE_LOCK_KEY = '7361627368617264'; // any fixed bigint, the same in every process

/** Whether a move of `shard` has marked this database (source or target) and not yet finished. */
export async function shardMoving(sql: postgres.Sql | postgres.ReservedSql, shard: number): Promise<boolean> {
  const [row] = await sql<{ marked: boolean }[]>`
    SELECT to_regclass(${moveNames(shard).marker}) IS NOT NULL AS marked`;
  return row?.marked === true;
}

/**
 * Marks the shard as moving on the source (the marker table with its first row), refused while any
 * migration runs on that database (`SHARD_MOVE_MIGRATING`): the mark and a migration never overlap.
 */
export async function markMoving(source: postgres.Sql, url: string, names: MoveNames): Promise<void> {
  const conn = await source.reserve();
  try {
    const [row] = await conn<{ ok: boolean }[]>`SELECT pg_try_advisory_lock(${MOVE_LOCK_KEY}::bigint) AS ok`;
    if (!row?.ok) {
      throw new ShardMoveError(
        ShardMoveErrorCodes.Migrating,
        `migrations are running on ${redactUrl(url)}: run the move again once they are done`,
      );
    }
    try {
      await createMarker(conn, names, true);
    } finally {
      await conn`SELECT pg_advisory_unlock(${MOVE_LOCK_KEY}::bigint)`;
    }
  } finally {
    conn.release();
  }
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;
const qualified = (name: string) => name.split('.').map(ident).join('.');
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** Every service's schema of `shard` on a database: `metadata_0005`, `feed_0005`, ... */
export async function schemasOfShard(sql: postgres.Sql, shard: number): Promise<string[]> {
  const suffix = `_${String(shard).padStart(4, '0')}`;
  const rows = await sql<{ nspname: string }[]>`
    SELECT nspname FROM pg_namespace
    WHERE nspname ~ '^[a-z][a-z0-9_]*_[0-9]{4}$' AND right(nspname, 5) = ${suffix} ORDER BY nspname`;
  return rows.map((r) => r.nspname);
}

export async function tablesOf(sql: postgres.Sql, schemas: readonly string[]): Promise<string[]> {
  if (schemas.length === 0) return [];
  const rows = await sql<{ name: string }[]>`
    SELECT schemaname || '.' || tablename AS name FROM pg_tables
    WHERE schemaname IN ${sql(schemas)} ORDER BY 1`;
  return rows.map((r) => r.name);
}

export async function assertLogicalWal(source: postgres.Sql, url: string): Promise<void> {
  const [row] = await source<{ wal_level: string }[]>`SHOW wal_level`;
  if (row?.wal_level !== 'logical') {
    throw new ShardMoveError(
      ShardMoveErrorCodes.WalLevel,
      `${redactUrl(url)} has wal_level=${row?.wal_level}: a shard moves by logical replication, which needs ` +
        'wal_level=logical (ALTER SYSTEM SET wal_level = logical, then restart that server)',
    );
  }
}

/** The marker table on both sides; the source's row is copied to the target by the initial sync. */
export async function createMarker(
  sql: postgres.Sql | postgres.ReservedSql,
  names: MoveNames,
  withRow: boolean,
): Promise<void> {
  await sql.unsafe(`CREATE SCHEMA IF NOT EXISTS ${ident(MOVE_SCHEMA)};
    CREATE TABLE IF NOT EXISTS ${qualified(names.marker)} (id int PRIMARY KEY, token text NOT NULL)`);
  if (withRow) {
    await sql.unsafe(
      `INSERT INTO ${qualified(names.marker)} VALUES (1, 'copy') ON CONFLICT (id) DO UPDATE SET token = 'copy'`,
    );
  }
}

export async function dropMarker(sql: postgres.Sql, names: MoveNames): Promise<void> {
  await sql.unsafe(`DROP TABLE IF EXISTS ${qualified(names.marker)}`);
}

/** Drops the subscription without touching its slot (a slot on the same server would make DROP hang). */
export async function dropSubscription(target: postgres.Sql, names: MoveNames): Promise<void> {
  const [found] = await target`SELECT 1 FROM pg_subscription WHERE subname = ${names.replication}`;
  if (!found) return;
  const sub = ident(names.replication);
  await target.unsafe(`ALTER SUBSCRIPTION ${sub} DISABLE`);
  await target.unsafe(`ALTER SUBSCRIPTION ${sub} SET (slot_name = NONE)`);
  await target.unsafe(`DROP SUBSCRIPTION ${sub}`);
}

/** Drops the slot (once its sender has stopped) and the publication on the source. */
export async function dropPublication(source: postgres.Sql, names: MoveNames): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const [slot] = await source<{ active: boolean }[]>`
      SELECT active FROM pg_replication_slots WHERE slot_name = ${names.replication}`;
    if (!slot) break;
    if (!slot.active) {
      await source`SELECT pg_drop_replication_slot(${names.replication})`;
      break;
    }
    if (attempt > 100)
      throw new ShardMoveError(ShardMoveErrorCodes.Failed, `slot ${names.replication} stays active`);
    await sleep(100);
  }
  await source.unsafe(`DROP PUBLICATION IF EXISTS ${ident(names.replication)}`);
}

/** Binaries of the newest installed Postgres (pg_dump must be at least the server's version). */
function binDir(): string {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const majors = readdirSync(root)
      .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'pg_dump')))
      .sort((a, b) => Number(b) - Number(a));
    if (majors[0]) return join(root, majors[0], 'bin');
  }
  const out = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  return out.status === 0 ? out.stdout.trim() : '';
}

/** The URL without its password, and the password for PGPASSWORD (kept out of `ps`). */
function libpq(url: string): { url: string; env: NodeJS.ProcessEnv } {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  return { url: u.toString(), env: password ? { ...process.env, PGPASSWORD: password } : process.env };
}

/** `pg_dump --schema-only` of `schemas` on the source, restored in one transaction on the target. */
export async function copySchemaDefinitions(
  sourceUrl: string,
  targetUrl: string,
  schemas: readonly string[],
): Promise<void> {
  const dir = binDir();
  const bin = (name: string) => (dir ? join(dir, name) : name);
  const src = libpq(sourceUrl);
  const dst = libpq(targetUrl);
  const dump = spawn(
    bin('pg_dump'),
    ['--schema-only', '--no-owner', '--no-privileges', ...schemas.flatMap((s) => ['-n', s]), '-d', src.url],
    { env: src.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const restore = spawn(
    bin('psql'),
    ['-q', '-X', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-d', dst.url],
    {
      env: dst.env,
      stdio: ['pipe', 'ignore', 'pipe'],
    },
  );
  dump.stdout.pipe(restore.stdin);
  const errors: string[] = [];
  dump.stderr.on('data', (d: Buffer) => errors.push(`pg_dump: ${d}`));
  restore.stderr.on('data', (d: Buffer) => errors.push(`psql: ${d}`));
  const exit = (p: ReturnType<typeof spawn>) =>
    new Promise<number>((resolve, reject) => {
      p.on('error', reject);
      p.on('close', (code) => resolve(code ?? 1));
    });
  const [dumped, restored] = await Promise.all([exit(dump), exit(restore)]);
  if (dumped !== 0 || restored !== 0) {
    throw new ShardMoveError(
      ShardMoveErrorCodes.Failed,
      `copying the definitions of ${schemas.join(', ')} failed: ${errors.join('').trim()}`,
    );
  }
}

/** Publication and slot on the source, subscription (initial copy, then changes) on the target. */
export async function startReplication(
  source: postgres.Sql,
  target: postgres.Sql,
  sourceUrl: string,
  schemas: readonly string[],
  names: MoveNames,
): Promise<void> {
  const pub = ident(names.replication);
  await source.unsafe(
    `CREATE PUBLICATION ${pub} FOR TABLES IN SCHEMA ${schemas.map(ident).join(', ')}, TABLE ${qualified(names.marker)}`,
  );
  // Created apart from the subscription: CREATE SUBSCRIPTION making its slot on the same server hangs.
  await source`SELECT pg_create_logical_replication_slot(${names.replication}, 'pgoutput')`;
  await target.unsafe(
    `CREATE SUBSCRIPTION ${pub} CONNECTION ${literal(sourceUrl)} PUBLICATION ${pub}
     WITH (create_slot = false, slot_name = ${literal(names.replication)}, copy_data = true)`,
  );
}

/** Waits until every table of the subscription finished its initial copy; progress to `log` now and then. */
export async function waitCopied(
  target: postgres.Sql,
  names: MoveNames,
  timeoutMs: number,
  log: (line: string) => void = () => {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let shown = '';
  let shownAt = Date.now();
  for (;;) {
    const [row] = await target<{ waiting: number; total: number }[]>`
      SELECT count(*) FILTER (WHERE r.srsubstate <> 'r')::int AS waiting, count(r.*)::int AS total
      FROM pg_subscription s LEFT JOIN pg_subscription_rel r ON r.srsubid = s.oid
      WHERE s.subname = ${names.replication}`;
    if (row && row.total > 0 && row.waiting === 0) return;
    const progress = row ? `  copied ${row.total - row.waiting}/${row.total} tables` : '';
    if (progress !== shown && Date.now() - shownAt >= 1000) {
      log(progress);
      shown = progress;
      shownAt = Date.now();
    }
    if (Date.now() > deadline)
      throw new ShardMoveError(ShardMoveErrorCodes.Failed, `initial copy not done after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * Makes every table of `schemas` refuse writes (`SHARD_MOVING_SQLSTATE`), all at once: a statement
 * trigger, so no row default (no `next_id()`) runs first. Writers in flight finish before it holds.
 * `next_id()` of each schema refuses too: an id minted on the source after its sequences were carried
 * over could be minted again on the target (same millisecond, same sequence value), so a store minting
 * an id alone (`SELECT next_id()`) mints it on the new route instead.
 */
export async function fence(source: postgres.Sql, schemas: readonly string[], shard: number): Promise<void> {
  const tables = await tablesOf(source, schemas);
  const minting = await schemasWithNextId(source, schemas);
  await withTableLocks(source, [
    `CREATE SCHEMA IF NOT EXISTS ${ident(MOVE_SCHEMA)}`,
    `CREATE OR REPLACE FUNCTION ${ident(MOVE_SCHEMA)}.fence() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'logical shard % is moving to another database: retry on the new route', TG_ARGV[0]
          USING ERRCODE = '${SHARD_MOVING_SQLSTATE}';
      END $$`,
    ...tables.map(
      (
        table,
      ) => `CREATE OR REPLACE TRIGGER instantpost_move_fence BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
         ON ${qualified(table)} FOR EACH STATEMENT EXECUTE FUNCTION ${ident(MOVE_SCHEMA)}.fence('${shard}')`,
    ),
    ...minting.map(
      (schema) => `CREATE OR REPLACE FUNCTION ${ident(schema)}.next_id() RETURNS bigint
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
          RAISE EXCEPTION 'logical shard % is moving to another database: retry on the new route', ${shard}
            USING ERRCODE = '${SHARD_MOVING_SQLSTATE}';
        END $$`,
    ),
  ]);
}

const LOCK_WAIT_MS = 50;

/**
 * Runs DDL that locks many tables (triggers, drops) in one transaction and one round trip, waiting at
 * most LOCK_WAIT_MS for each lock: a writer holding one table while it wants another could otherwise
 * deadlock with it, and Postgres would abort one of the two — perhaps a client's write. On a lock it
 * cannot get in time the whole transaction rolls back and runs again a moment later.
 */
async function withTableLocks(
  sql: postgres.Sql,
  statements: readonly string[],
  maxWaitMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + maxWaitMs;
  const script = ['BEGIN', `SET LOCAL lock_timeout = '${LOCK_WAIT_MS}ms'`, ...statements, 'COMMIT'].join(
    ';\n',
  );
  for (;;) {
    const conn = await sql.reserve();
    try {
      await conn.unsafe(script);
      return;
    } catch (error) {
      await conn.unsafe('ROLLBACK').catch(() => {});
      const code = (error as { code?: string }).code;
      if ((code !== '55P03' && code !== '40P01') || Date.now() > deadline) throw error;
    } finally {
      conn.release();
    }
    await sleep(10 + Math.random() * 40);
  }
}

/** Lifts the fence (a move given up before its flip): triggers gone, `next_id()` as the migrations made it. */
export async function unfence(
  source: postgres.Sql,
  schemas: readonly string[],
  shard: number,
): Promise<void> {
  const tables = await tablesOf(source, schemas);
  const minting = await schemasWithNextId(source, schemas);
  await withTableLocks(source, [
    ...tables.map((table) => `DROP TRIGGER IF EXISTS instantpost_move_fence ON ${qualified(table)}`),
    ...minting.map((schema) => nextIdFunctionSql({ schema, shard })),
  ]);
}

async function schemasWithNextId(sql: postgres.Sql, schemas: readonly string[]): Promise<string[]> {
  if (schemas.length === 0) return [];
  const rows = await sql<{ nspname: string }[]>`
    SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.proname = 'next_id' AND n.nspname IN ${sql(schemas)} ORDER BY 1`;
  return rows.map((r) => r.nspname);
}

/** Writes a new token on the source and waits until the target shows it: everything before is there. */
export async function waitCaughtUp(
  source: postgres.Sql,
  target: postgres.Sql,
  names: MoveNames,
  timeoutMs: number,
): Promise<void> {
  const token = randomUUID();
  await source.unsafe(`UPDATE ${qualified(names.marker)} SET token = $1 WHERE id = 1`, [token]);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await target.unsafe<{ token: string }[]>(
      `SELECT token FROM ${qualified(names.marker)} WHERE id = 1`,
    );
    if (row?.token === token) return;
    if (Date.now() > deadline)
      throw new ShardMoveError(
        ShardMoveErrorCodes.Failed,
        `the copy did not catch up within ${timeoutMs} ms`,
      );
    await sleep(5);
  }
}

/** Every sequence of `schemas` (id_seq, id_mark, identity columns) on the target at the source's value. */
export async function copySequences(
  source: postgres.Sql,
  target: postgres.Sql,
  schemas: readonly string[],
): Promise<number> {
  const rows = await source<{ name: string; last_value: string | null }[]>`
    SELECT schemaname || '.' || sequencename AS name, last_value::text FROM pg_sequences
    WHERE schemaname IN ${source(schemas)}`;
  const set = rows.filter((r) => r.last_value !== null);
  // One round trip: the shard's writers wait while this runs.
  if (set.length > 0) {
    const calls = set.map(
      (r) => `setval(${literal(qualified(r.name))}::regclass, ${BigInt(r.last_value as string)}, true)`,
    );
    await target.unsafe(`SELECT ${calls.join(', ')}`);
  }
  return rows.length;
}

/** Row counts per table on both sides; a difference means the copy is not the source. */
export async function compareCounts(
  source: postgres.Sql,
  target: postgres.Sql,
  schemas: readonly string[],
): Promise<number> {
  const tables = await tablesOf(source, schemas);
  if (tables.length === 0) return 0;
  // One query per side: the shard's writers wait while this runs.
  const query = tables
    .map((table) => `SELECT ${literal(table)} AS t, count(*)::bigint::text AS n FROM ${qualified(table)}`)
    .join(' UNION ALL ');
  const counts = async (sql: postgres.Sql) =>
    new Map((await sql.unsafe<{ t: string; n: string }[]>(query)).map((r) => [r.t, Number(r.n)]));
  const [a, b] = await Promise.all([counts(source), counts(target)]);
  let total = 0;
  for (const table of tables) {
    if (a.get(table) !== b.get(table))
      throw new ShardMoveError(
        ShardMoveErrorCodes.Failed,
        `${table}: ${a.get(table)} rows on the source, ${b.get(table)} on the copy`,
      );
    total += a.get(table) ?? 0;
  }
  return total;
}

/**
 * Ids are milliseconds first: the target's clock must be past every id issued on the source, or
 * `next_id()` there could go below one. Waits (up to `maxWaitMs`) for it.
 */
export async function waitClockPast(
  target: postgres.Sql,
  sourceNowMs: number,
  maxWaitMs = 2000,
): Promise<void> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const [row] = await target<
      { ms: string }[]
    >`SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS ms`;
    if (Number(row?.ms) > sourceNowMs) return;
    if (Date.now() > deadline) {
      throw new ShardMoveError(
        ShardMoveErrorCodes.ClockBehind,
        `the target's clock is more than ${maxWaitMs} ms behind the source's: fix the clocks (NTP) first`,
      );
    }
    await sleep(5);
  }
}

export async function clockMs(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<
    { ms: string }[]
  >`SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS ms`;
  return Number(row?.ms);
}

export async function dropSchemas(sql: postgres.Sql, schemas: readonly string[]): Promise<void> {
  // Reads still routed to the old copy may hold its tables: no deadlock with them (`withTableLocks`).
  for (const schema of schemas) await withTableLocks(sql, [`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`]);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
