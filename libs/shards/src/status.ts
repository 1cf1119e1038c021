import type postgres from 'postgres';
import { MigrationError, MigrationErrorCodes } from './errors.ts';
import {
  describeMigration,
  loadMigrations,
  type MigrationFile,
  type MigrationSource,
} from './migration-files.ts';
import type { Shards } from './pools.ts';
import { redactUrl } from './urls.ts';

/** A migration by source and version. */
export interface MigrationRef {
  readonly source: string;
  readonly version: number;
  readonly name: string;
}

export interface AppliedMigration extends MigrationRef {
  readonly checksum: string;
  readonly appliedAt: Date;
}

export interface ChangedMigration extends MigrationRef {
  readonly appliedChecksum: string;
  readonly fileChecksum: string;
}

/** Where one logical shard schema stands against the migration files. */
export interface SchemaStatus {
  readonly shard: number;
  readonly schema: string;
  /** The schema, its `next_id()` and its `schema_migrations` table exist. */
  readonly initialized: boolean;
  readonly applied: readonly AppliedMigration[];
  /** Files not applied yet, in the order they will run. */
  readonly pending: readonly MigrationRef[];
  /** Applied files whose content changed since (refused by `migrate`). */
  readonly changed: readonly ChangedMigration[];
  /** Applied migrations with no file here (newer code ran them, or a file was deleted). */
  readonly unknown: readonly AppliedMigration[];
}

/** One physical database and its logical shard schemas. */
export interface DatabaseStatus {
  /** URL with the password hidden. */
  readonly database: string;
  readonly shards: readonly SchemaStatus[];
}

export interface MigrationOptions {
  shards: Shards;
  /** Applied in this order in every schema, e.g. `[{ name: 'bus', dir }, { name: 'metadata', dir }]`. */
  sources: readonly MigrationSource[];
}

interface SchemaState {
  readonly initialized: boolean;
  readonly applied: readonly AppliedMigration[];
}

interface AppliedRow {
  source: string;
  version: number;
  name: string;
  checksum: string;
  applied_at: Date;
}

const key = (m: { source: string; version: number }) => `${m.source}\u0000${m.version}`;

/** Reads what has run in `schema` (nothing when it does not exist yet). */
export async function readSchemaState(sql: postgres.Sql, schema: string): Promise<SchemaState> {
  const [objects] = await sql<{ has_table: boolean; has_next_id: boolean }[]>`
    select to_regclass(${`"${schema}".schema_migrations`}) is not null as has_table,
           to_regprocedure(${`"${schema}".next_id()`}) is not null as has_next_id`;
  if (!objects?.has_table) return { initialized: false, applied: [] };
  const rows = await sql<AppliedRow[]>`
    select source, version, name, checksum, applied_at
    from ${sql(`${schema}.schema_migrations`)} order by source, version`;
  return {
    initialized: objects.has_next_id,
    applied: rows.map((r) => ({
      source: r.source,
      version: r.version,
      name: r.name,
      checksum: r.checksum,
      appliedAt: r.applied_at,
    })),
  };
}

/** Compares a schema's applied migrations with the files. */
export function compareWithFiles(
  shard: number,
  schema: string,
  state: SchemaState,
  files: readonly MigrationFile[],
): SchemaStatus {
  const applied = new Map(state.applied.map((a) => [key(a), a]));
  const onDisk = new Set(files.map(key));
  const pending: MigrationRef[] = [];
  const changed: ChangedMigration[] = [];
  for (const f of files) {
    const a = applied.get(key(f));
    if (!a) pending.push({ source: f.source, version: f.version, name: f.name });
    else if (a.checksum !== f.checksum) {
      changed.push({
        source: f.source,
        version: f.version,
        name: f.name,
        appliedChecksum: a.checksum,
        fileChecksum: f.checksum,
      });
    }
  }
  return {
    shard,
    schema,
    initialized: state.initialized,
    applied: state.applied,
    pending,
    changed,
    unknown: state.applied.filter((a) => !onDisk.has(key(a))),
  };
}

/** Per physical database, its logical shards and their applied and pending migrations. */
export async function migrationStatus(opts: MigrationOptions): Promise<DatabaseStatus[]> {
  const files = await loadMigrations(opts.sources);
  return statusWithFiles(opts.shards, files);
}

export async function statusWithFiles(
  shards: Shards,
  files: readonly MigrationFile[],
): Promise<DatabaseStatus[]> {
  return Promise.all(
    shards.databases.map(async (db) => {
      const schemas: SchemaStatus[] = [];
      for (const shard of db.shards) {
        const { schema } = shards.forShard(shard);
        schemas.push(compareWithFiles(shard, schema, await readSchemaState(db.sql, schema), files));
      }
      return { database: redactUrl(db.url), shards: schemas };
    }),
  );
}

/** `bus 0001_outbox, 0002_relay; metadata 0001_accounts`. */
export function describeRefs(refs: readonly MigrationRef[]): string {
  const bySource = new Map<string, string[]>();
  for (const r of refs) {
    const names = bySource.get(r.source) ?? [];
    names.push(describeMigration(r).slice(r.source.length + 1));
    bySource.set(r.source, names);
  }
  return [...bySource].map(([source, names]) => `${source} ${names.join(', ')}`).join('; ');
}

/** The error for applied files whose content changed. */
export function checksumError(statuses: readonly SchemaStatus[]): MigrationError {
  const bad = statuses.filter((s) => s.changed.length > 0);
  const lines = bad.flatMap((s) =>
    s.changed.map(
      (c) =>
        `  ${s.schema}: ${describeMigration(c)}.sql was applied with checksum ${c.appliedChecksum.slice(0, 12)}…, ` +
        `the file now has ${c.fileChecksum.slice(0, 12)}…`,
    ),
  );
  return new MigrationError(
    MigrationErrorCodes.ChecksumMismatch,
    `applied migrations changed on disk (add a new migration instead of editing one that ran):\n${lines.join('\n')}`,
    bad.map((s) => s.schema),
  );
}

/**
 * Throws a `MigrationError` naming every schema that is behind the files (`MIGRATION_BEHIND`) or
 * whose applied files changed (`MIGRATION_CHECKSUM_MISMATCH`). Services call it at start-up.
 */
export async function assertMigrated(opts: MigrationOptions): Promise<void> {
  const statuses = (await migrationStatus(opts)).flatMap((d) => d.shards);
  if (statuses.some((s) => s.changed.length > 0)) throw checksumError(statuses);
  const behind = statuses.filter((s) => !s.initialized || s.pending.length > 0);
  if (behind.length === 0) return;
  // Schemas usually lag by the same files: group them so the message stays short.
  const groups = new Map<string, string[]>();
  for (const s of behind) {
    const what = s.initialized ? `pending ${describeRefs(s.pending)}` : 'not created';
    groups.set(what, [...(groups.get(what) ?? []), s.schema]);
  }
  const lines = [...groups].map(([what, schemas]) => `  ${schemas.join(', ')}: ${what}`);
  throw new MigrationError(
    MigrationErrorCodes.Behind,
    `${behind.length} of ${statuses.length} ${opts.shards.service} schemas are behind their migrations ` +
      `(run: npm run shards -- migrate --service ${opts.shards.service} ...):\n${lines.join('\n')}`,
    behind.map((s) => s.schema),
  );
}
