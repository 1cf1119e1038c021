import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestNamespace } from '@instantpost/testing';
import postgres from 'postgres';

/** A shard map text putting shards 0..half-1 on a new database and half..count-1 on another. */
export async function twoDatabaseMap(
  ns: TestNamespace,
  shardCount = 16,
): Promise<{ text: string; urls: [string, string] }> {
  const a = await ns.postgres.createDatabase();
  const b = await ns.postgres.createDatabase();
  const half = shardCount / 2;
  return { text: `0-${half - 1}=${a};${half}-${shardCount - 1}=${b}`, urls: [a, b] };
}

/** A temporary migrations directory holding `files` (name → SQL). */
export async function migrationsDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'instantpost-migrations-'));
  for (const [name, sql] of Object.entries(files)) await writeFile(join(dir, name), sql);
  return dir;
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** Runs `fn` with a one-connection client of its own (to look at a database directly). */
export async function withDirect<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}
