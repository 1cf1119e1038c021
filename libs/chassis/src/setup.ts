import { fileURLToPath } from 'node:url';
import { ensureStreams } from '@instantpost/bus';
import { loadConfig } from '@instantpost/config';
import { parseCommand } from '@instantpost/config/cli';
import {
  createShards,
  databasesOf,
  ensureDatabases,
  migrate,
  openShardMapStore,
  rangesOf,
  type ShardMap,
} from '@instantpost/shards';
import { connect } from 'nats';
import { chassisSpec, natsConnectOptions, type ServiceName } from './config.ts';
import { migrationSources } from './infra.ts';

export interface SetupOptions {
  /** Create the physical databases of the shard map when missing (local stack, tests); off in production. */
  createDatabases?: boolean;
  /** Admin URL used to create databases; the first database's server, `postgres` database, by default. */
  adminUrl?: string;
  /** Where the configuration is read from (tests pass their namespace's). */
  env?: Record<string, string | undefined>;
}

/**
 * What runs before a service starts (the local stack, the Kubernetes Job): declare the JetStream streams,
 * seed the live shard map from SHARD_MAP when absent, and migrate every logical shard schema of the
 * service where the live map puts it. Safe to run twice and from several replicas.
 */
export async function setupService(
  service: ServiceName,
  migrations: URL,
  options: SetupOptions = {},
): Promise<void> {
  const config = loadConfig(chassisSpec(service), options.env);
  const nc = await connect(natsConnectOptions(config, `${service}-setup`));
  try {
    await ensureStreams(await nc.jetstreamManager(), {
      prefix: config.natsPrefix,
      replicas: config.streamReplicas,
    });
    // Migrate where the shards are now: once a shard moved, SHARD_MAP only seeds the live map.
    const map = config.shardMapLive
      ? rangesOf(
          await (await openShardMapStore(nc.jetstream(), { prefix: config.natsPrefix })).seed(
            config.shardMap,
          ),
        )
      : config.shardMap;
    if (options.createDatabases) {
      await ensureDatabases(map, options.adminUrl ?? defaultAdminUrl(map));
    }
    const shards = createShards({ service, map, poolMax: 2, prepare: config.pgPrepare });
    try {
      await migrate({ shards, sources: migrationSources(service, fileURLToPath(migrations)) });
    } finally {
      await shards.close();
    }
  } finally {
    await nc.drain();
  }
}

/** The `postgres` database on the server of the map's first database. */
function defaultAdminUrl(map: ShardMap): string {
  const first = databasesOf(map)[0];
  if (!first) throw new Error('the shard map names no database');
  const url = new URL(first.url);
  url.pathname = '/postgres';
  return url.toString();
}

/**
 * A service's `src/setup.ts` as a command (`npm run setup -w @instantpost/<service> -- [--create-databases]`,
 * the setup Jobs): the shared argument parsing and `--help`, then setupService.
 */
export async function setupCommand(
  service: ServiceName,
  migrations: URL,
  args: string[] = process.argv.slice(2),
): Promise<void> {
  const { values } = parseCommand(
    {
      name: `npm run setup -w @instantpost/${service} --`,
      synopsis: '[--create-databases]',
      summary: `Migrates every logical shard schema of ${service} and declares the JetStream streams; run before the service starts.`,
      options: {
        'create-databases': {
          type: 'boolean',
          default: false,
          description: 'create the physical databases of SHARD_MAP that are missing (local stack, tests)',
        },
      },
      notes: "environment: the service's own (SHARD_MAP, NATS_URL, NATS_USER, NATS_PASSWORD, ...)",
    },
    args,
  );
  await setupService(service, migrations, { createDatabases: values['create-databases'] });
}
