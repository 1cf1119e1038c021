/**
 * Operator CLI for a service's shard schemas. Run from the repository root:
 *
 *   npm run shards -- status  --service metadata --dir services/metadata/src/sql/migrations
 *   npm run shards -- migrate --service metadata --dir bus=libs/bus/sql/migrations --dir services/metadata/src/sql/migrations
 *   npm run shards -- create-databases [--admin-url postgres://postgres@127.0.0.1:5432/postgres]
 *   npm run shards -- map [--json] [--reveal]
 *   npm run shards -- move <shard> <postgres url>
 *   npm run shards -- move --abort <shard>
 *   npm run shards -- rebalance [--database <postgres url>]... [--apply]
 *
 * Reads SHARD_MAP from the environment (unset: the local default, 16 shards on two databases).
 * Exit status: 0 done / up to date, 1 error, 2 misuse (usage on stderr), 3 `status` found schemas behind
 * or changed files. `--help` lists the commands and options.
 */
import { basename } from 'node:path';
import { ConfigError, loadConfig } from '@instantpost/config';
import { type CliOption, type CommandSpec, exitUsage, parseCommand } from '@instantpost/config/cli';
import { abortCommand, liveShardMap, mapCommand, moveCommand, rebalanceCommand } from './cli-live.ts';
import { ensureDatabases } from './databases.ts';
import { shardMapVar } from './env.ts';
import { migrate } from './migrate.ts';
import type { MigrationSource } from './migration-files.ts';
import { createShards } from './pools.ts';
import { type DatabaseStatus, type MigrationRef, migrationStatus, type SchemaStatus } from './status.ts';

const COMMAND = {
  name: 'npm run shards --',
  synopsis: '<command> [options]',
  summary: "A service's shard schemas: their migrations, and the physical databases of SHARD_MAP.",
  commands: {
    status: 'applied and pending migrations per physical database and logical shard',
    migrate: 'apply pending migrations to every shard schema of the service',
    'create-databases': 'create the physical databases of SHARD_MAP that do not exist',
    map: 'print the live shard map (--json: {"version", "shards": {"0": url, ...}, "moves"})',
    move: "move <shard> <postgres url>: move every service's schema of a logical shard to that database, live; move --abort <shard>: give up a move before its flip",
    rebalance:
      'print the moves that spread the logical shards evenly over the databases of the live map and --database ones (--apply: run them, one at a time)',
  },
  options: {
    service: {
      type: 'string',
      value: 'name',
      description: 'owner of the schemas (metadata, media-processing, ...); status and migrate',
    },
    dir: {
      type: 'string',
      multiple: true,
      default: [],
      value: '[<source>=]<dir>',
      description: 'a migrations directory, applied in the order given (source defaults to the service)',
    },
    'admin-url': {
      type: 'string',
      default: 'postgres://postgres@127.0.0.1:5432/postgres',
      value: 'url',
      description: 'server admin URL for create-databases and migrate --create-databases',
    },
    'create-databases': {
      type: 'boolean',
      default: false,
      description: 'migrate: create missing databases first',
    },
    json: { type: 'boolean', default: false, description: 'map: print JSON' },
    live: {
      type: 'boolean',
      default: false,
      description: 'status, migrate: the live map (NATS) instead of SHARD_MAP, which moves make stale',
    },
    reveal: { type: 'boolean', default: false, description: 'map: show passwords (hidden by default)' },
    database: {
      type: 'string',
      multiple: true,
      default: [],
      value: 'url',
      description: 'rebalance: a database to spread shards onto too (one just added, holding none yet)',
    },
    apply: { type: 'boolean', default: false, description: 'rebalance: run the planned moves' },
    abort: {
      type: 'boolean',
      default: false,
      description: 'move: give up the move of <shard> (before its flip): the shard stays where it is',
    },
    'retire-grace-ms': {
      type: 'string',
      default: '2000',
      value: 'ms',
      description: 'move: how long the old copy stays after the flip, for reads routed before it',
    },
  },
  notes: `environment:
  SHARD_MAP  <from>-<to>=<postgres url>;...  (default: 16 shards on instantpost_0 and instantpost_1 locally);
             map and move read the live map (JetStream KV bucket shardmap) and SHARD_MAP only seeds it
  NATS_URL, NATS_PREFIX, NATS_USER, NATS_PASSWORD  where the live map is (map, move)

exit status: 0 done or up to date, 1 error, 2 misuse, 3 status found schemas behind or changed files`,
} satisfies CommandSpec<Record<string, CliOption>>;

function sourcesOf(service: string, dirs: readonly string[]): MigrationSource[] {
  if (dirs.length === 0) exitUsage(COMMAND, 'at least one --dir is required');
  return dirs.map((d) => {
    const eq = d.indexOf('=');
    return eq > 0
      ? { name: d.slice(0, eq), dir: d.slice(eq + 1) }
      : { name: service.replaceAll('-', '_'), dir: d };
  });
}

/** `1-3, 5` from [1, 2, 3, 5]. */
function versionRanges(versions: readonly number[]): string {
  const sorted = [...versions].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && (sorted[j + 1] ?? 0) === (sorted[j] ?? 0) + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

function refs(list: readonly MigrationRef[]): string {
  if (list.length === 0) return '-';
  const bySource = new Map<string, number[]>();
  for (const r of list) bySource.set(r.source, [...(bySource.get(r.source) ?? []), r.version]);
  return [...bySource].map(([source, versions]) => `${source} ${versionRanges(versions)}`).join('; ');
}

function stateOf(s: SchemaStatus): string {
  if (s.changed.length > 0) return `CHANGED: ${refs(s.changed)}`;
  if (!s.initialized) return 'not created';
  if (s.pending.length > 0) return 'behind';
  return s.unknown.length > 0 ? `up to date (+ unknown ${refs(s.unknown)})` : 'up to date';
}

function table(rows: readonly string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows
    .map((r) => `  ${r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ')}`.trimEnd())
    .join('\n');
}

function renderStatus(statuses: readonly DatabaseStatus[]): string {
  const out: string[] = [];
  for (const db of statuses) {
    out.push('', `${db.database}`);
    // Consecutive shards in the same state share a row.
    const rows: string[][] = [['shards', 'schemas', 'applied', 'pending', 'state']];
    let group: SchemaStatus[] = [];
    const flush = () => {
      const first = group[0];
      const last = group.at(-1);
      if (!first || !last) return;
      rows.push([
        first === last ? `${first.shard}` : `${first.shard}-${last.shard}`,
        first === last ? first.schema : `${first.schema}..${last.schema}`,
        refs(first.applied),
        refs(first.pending),
        stateOf(first),
      ]);
      group = [];
    };
    const signature = (s: SchemaStatus) => [refs(s.applied), refs(s.pending), stateOf(s)].join('|');
    for (const s of db.shards) {
      const first = group[0];
      if (first && (signature(first) !== signature(s) || s.shard !== (group.at(-1)?.shard ?? -2) + 1))
        flush();
      group.push(s);
    }
    flush();
    out.push(table(rows));
  }
  return out.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(COMMAND, argv);
  const command = positionals[0];
  if (!command) exitUsage(COMMAND, 'a command is needed');
  const { shardMap } = loadConfig({ shardMap: shardMapVar() });

  if (command === 'map') {
    await mapCommand(shardMap, { json: values.json, reveal: values.reveal });
    return 0;
  }
  if (command === 'move') {
    if (values.abort) await abortCommand(positionals[1]);
    else await moveCommand(shardMap, positionals[1], positionals[2], Number(values['retire-grace-ms']));
    return 0;
  }
  if (command === 'rebalance') {
    await rebalanceCommand(shardMap, values.database, {
      apply: values.apply,
      retireGraceMs: Number(values['retire-grace-ms']),
    });
    return 0;
  }
  if (command === 'create-databases') {
    const created = await ensureDatabases(shardMap, values['admin-url']);
    console.log(created.length > 0 ? `created ${created.join(', ')}` : 'every database exists');
    return 0;
  }
  const service = values.service;
  if (!service) exitUsage(COMMAND, `${command} needs --service`);
  const sources = sourcesOf(service, values.dir);
  if (command === 'migrate' && values['create-databases']) {
    const created = await ensureDatabases(shardMap, values['admin-url']);
    if (created.length > 0) console.log(`created ${created.join(', ')}`);
  }
  // After moves, the live map (not SHARD_MAP) says where each shard's schemas are.
  const map = values.live ? await liveShardMap(shardMap) : shardMap;
  const shards = createShards({ service, map, poolMax: 2 });
  try {
    console.log(
      `service ${service}: ${map.shardCount} logical shards on ${shards.databases.length} databases` +
        `${values.live ? ' (live map)' : ''}; ` +
        `sources ${sources.map((s) => `${s.name} (${basename(s.dir)})`).join(', ')}`,
    );
    if (command === 'migrate') {
      const steps = await migrate({
        shards,
        sources,
        onApplied: (s) =>
          console.log(
            `  applied ${s.source} ${s.version} ${s.name} to ${s.schema} (${s.durationMs.toFixed(0)} ms)`,
          ),
      });
      console.log(steps.length > 0 ? `applied ${steps.length} migration(s)` : 'nothing to apply');
    }
    const statuses = await migrationStatus({ shards, sources });
    console.log(renderStatus(statuses));
    const behind = statuses
      .flatMap((d) => d.shards)
      .filter((s) => !s.initialized || s.pending.length > 0 || s.changed.length > 0);
    return behind.length > 0 ? 3 : 0;
  } finally {
    await shards.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if ((error as { code?: unknown }).code === '3D000') {
      console.error(`${(error as Error).message}: create it with npm run shards -- create-databases`);
    } else if (error instanceof ConfigError || error instanceof Error)
      console.error(`${error.name}: ${error.message}`);
    else console.error(error);
    process.exitCode = 1;
  },
);
