import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MigrationError, MigrationErrorCodes } from './errors.ts';

/** A directory of forward-only migrations, applied under the name `name` (e.g. `bus`, `metadata`). */
export interface MigrationSource {
  readonly name: string;
  readonly dir: string;
}

/** One migration file on disk. */
export interface MigrationFile {
  readonly source: string;
  readonly version: number;
  /** The part of the file name after the version, e.g. `create_posts`. */
  readonly name: string;
  readonly path: string;
  readonly sql: string;
  /** SHA-256 of the file's bytes, hex. */
  readonly checksum: string;
}

const FILE = /^(\d{4,})_([a-z0-9_]+)\.sql$/;
const SOURCE = /^[a-z][a-z0-9_-]{0,62}$/;

/** `bus 0002_outbox` — how files are named in messages. */
export function describeMigration(m: { source: string; version: number; name: string }): string {
  return `${m.source} ${String(m.version).padStart(4, '0')}_${m.name}`;
}

/**
 * Reads every source's `NNNN_name.sql` files (other file types are ignored), ordered by source as
 * given, then by version. Refuses a missing directory, an `.sql` file with another name shape and a
 * version used twice.
 */
export async function loadMigrations(sources: readonly MigrationSource[]): Promise<MigrationFile[]> {
  const seen = new Set<string>();
  const all: MigrationFile[] = [];
  for (const source of sources) {
    if (!SOURCE.test(source.name)) {
      throw new MigrationError(
        MigrationErrorCodes.BadSource,
        `migration source name must be lowercase letters, digits, "_" or "-", got ${JSON.stringify(source.name)}`,
      );
    }
    if (seen.has(source.name)) {
      throw new MigrationError(
        MigrationErrorCodes.BadSource,
        `migration source "${source.name}" is listed twice`,
      );
    }
    seen.add(source.name);
    const dir = resolve(source.dir);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (cause) {
      throw new MigrationError(
        MigrationErrorCodes.BadSource,
        `migrations of "${source.name}": cannot read directory ${dir}`,
        [],
        { cause },
      );
    }
    const files: MigrationFile[] = [];
    for (const file of names.filter((n) => n.endsWith('.sql')).sort()) {
      const m = FILE.exec(file);
      if (!m?.[1] || !m[2]) {
        throw new MigrationError(
          MigrationErrorCodes.BadSource,
          `${join(dir, file)}: migration files must be named NNNN_name.sql (digits, "_", lowercase name)`,
        );
      }
      const version = Number(m[1]);
      const clash = files.find((f) => f.version === version);
      if (clash) {
        throw new MigrationError(
          MigrationErrorCodes.BadSource,
          `${dir}: version ${version} is used by both ${clash.name} and ${m[2]}`,
        );
      }
      const bytes = await readFile(join(dir, file));
      files.push({
        source: source.name,
        version,
        name: m[2],
        path: join(dir, file),
        sql: bytes.toString('utf8'),
        checksum: createHash('sha256').update(bytes).digest('hex'),
      });
    }
    all.push(...files.sort((a, b) => a.version - b.version));
  }
  return all;
}
