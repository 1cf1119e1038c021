import { createHash } from 'node:crypto';
import type postgres from 'postgres';
import { bootstrapSql } from './bootstrap.ts';
import { MigrationError, MigrationErrorCodes } from './errors.ts';
import { describeMigration, loadMigrations, type MigrationFile } from './migration-files.ts';
import type { ShardDatabase, Shards } from './pools.ts';
import { MOVE_LOCK_KEY, shardMoving } from './replication.ts';
import {
  checksumError,
  compareWithFiles,
  type MigrationOptions,
  readSchemaState,
  statusWithFiles,
} from './status.ts';
import { redactUrl } from './urls.ts';

/** One migration file applied to one schema. */
export interface AppliedStep {
  readonly database: string;
  readonly shard: number;
  readonly schema: string;
  readonly source: string;
  readonly version: number;
  readonly name: string;
  readonly durationMs: number;
}

export interface MigrateOptions extends MigrationOptions {
  /** Called after each file commits (for logs). */
  onApplied?: (step: AppliedStep) => void;
}

/** The advisory lock key of a service's migrations: the same in every process, different per service. */
export function migrationLockKey(service: string): string {
  return createHash('sha256').update(`instantpost:migrate:${service}`).digest().readBigInt64BE(0).toString();
}

/**
 * Brings every logical shard schema of the service up to date, on every physical database.
 *
 * Per database, under `pg_advisory_lock` keyed by service (so replicas starting together take turns),
 * for each schema: create the schema, `next_id()` and `schema_migrations` if missing; then each
 * pending file, in source order then version order, in its own transaction that begins with
 * `SET LOCAL search_path TO <schema>` (files use unqualified names) and records the file with its
 * SHA-256. Refuses to start if any applied file changed (`MIGRATION_CHECKSUM_MISMATCH`); a failing
 * file rolls back and stops that database (`MIGRATION_FAILED`). Databases migrate in parallel.
 * Returns what it applied (nothing on a second run).
 */
export async function migrate(opts: MigrateOptions): Promise<AppliedStep[]> {
  const files = await loadMigrations(opts.sources);
  const before = (await statusWithFiles(opts.shards, files)).flatMap((d) => d.shards);
  if (before.some((s) => s.changed.length > 0)) throw checksumError(before);

  const results = await Promise.allSettled(
    opts.shards.databases.map((db) => migrateDatabase(opts.shards, db, files, opts.onApplied)),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
}

async function migrateDatabase(
  shards: Shards,
  db: ShardDatabase,
  files: readonly MigrationFile[],
  onApplied: MigrateOptions['onApplied'],
): Promise<AppliedStep[]> {
  const lockKey = migrationLockKey(shards.service);
  const database = redactUrl(db.url);
  const steps: AppliedStep[] = [];
  const conn = await db.sql.reserve();
  try {
    await conn`select pg_advisory_lock(${lockKey}::bigint)`;
    await conn`select pg_advisory_lock_shared(${MOVE_LOCK_KEY}::bigint)`;
    try {
      for (const shard of db.shards) {
        const { schema } = shards.forShard(shard);
        // A moving shard's schemas are not touched (the bootstrap would lift the fence on next_id());
        // with files still to apply, the migration waits for the move (run it again after).
        if (await shardMoving(conn, shard)) {
          const moving = compareWithFiles(shard, schema, await readSchemaState(conn, schema), files);
          if (moving.pending.length > 0 || moving.changed.length > 0) {
            throw new MigrationError(
              MigrationErrorCodes.ShardMoving,
              `${schema}: logical shard ${shard} is moving to another database (npm run shards -- map): ` +
                'migrate again once the move is done, or give it up with move --abort',
              [schema],
            );
          }
          continue;
        }
        await inTransaction(conn, () => conn.unsafe(bootstrapSql(schema, shard)));
        // Read again under the lock: another runner may have applied files since the pre-flight check.
        const status = compareWithFiles(shard, schema, await readSchemaState(conn, schema), files);
        if (status.changed.length > 0) throw checksumError([status]);
        for (const ref of status.pending) {
          const file = files.find(
            (f) => f.source === ref.source && f.version === ref.version,
          ) as MigrationFile;
          const started = performance.now();
          await applyFile(conn, schema, file);
          const step = {
            database,
            shard,
            schema,
            source: file.source,
            version: file.version,
            name: file.name,
            durationMs: performance.now() - started,
          };
          steps.push(step);
          onApplied?.(step);
        }
      }
    } finally {
      // If the connection broke, the server already dropped the locks with the session.
      await conn`select pg_advisory_unlock_shared(${MOVE_LOCK_KEY}::bigint)`.catch(() => {});
      await conn`select pg_advisory_unlock(${lockKey}::bigint)`.catch(() => {});
    }
  } finally {
    conn.release();
  }
  return steps;
}

/**
 * BEGIN/COMMIT by hand: a reserved connection (which keeps the advisory lock's session) has no
 * `begin()` in postgres.js 3.4.
 */
async function inTransaction(conn: postgres.ReservedSql, fn: () => Promise<unknown>): Promise<void> {
  await conn.unsafe('BEGIN');
  try {
    await fn();
    await conn.unsafe('COMMIT');
  } catch (error) {
    await conn.unsafe('ROLLBACK').catch(() => {});
    throw error;
  }
}

async function applyFile(conn: postgres.ReservedSql, schema: string, file: MigrationFile): Promise<void> {
  try {
    await inTransaction(conn, async () => {
      await conn.unsafe(`SET LOCAL search_path TO "${schema}"`);
      await conn.unsafe(file.sql);
      await conn`
        insert into ${conn(`${schema}.schema_migrations`)} (source, version, name, checksum)
        values (${file.source}, ${file.version}, ${file.name}, ${file.checksum})`;
    });
  } catch (cause) {
    throw new MigrationError(
      MigrationErrorCodes.Failed,
      `${schema}: ${describeMigration(file)}.sql failed${lineOf(file.sql, cause)} and was rolled back: ` +
        `${cause instanceof Error ? cause.message : String(cause)} (${file.path})`,
      [schema],
      { cause },
    );
  }
}

/** ` at line N` from a Postgres error's character position in the file, when it has one. */
function lineOf(sql: string, error: unknown): string {
  const position = Number((error as { position?: unknown } | null)?.position);
  if (!Number.isInteger(position) || position < 1) return '';
  return ` at line ${sql.slice(0, position - 1).split('\n').length}`;
}
