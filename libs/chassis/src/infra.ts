import { busMigrations, DEFAULT_STREAM_MAX_AGE_MS, ensureStreams, startInboxPruner } from '@instantpost/bus';
import type { ReadinessCheck, SessionRevocations } from '@instantpost/http';
import {
  assertMigrated,
  createShards,
  liveMapFromConfig,
  type MigrationSource,
  openShardMapStore,
  rangesOf,
  type Shards,
} from '@instantpost/shards';
import type { Logger } from '@instantpost/telemetry';
import { Redis } from 'ioredis';
import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { type ChassisConfig, natsConnectOptions, type ServiceName, shardPoolOptions } from './config.ts';
import { watchRevocations } from './revocations.ts';

/** The clients a service runs on, opened once in `main.ts` and closed once on shutdown. */
export interface Infra {
  readonly shards: Shards;
  /** Every command's keys are prefixed with REDIS_PREFIX by the client itself. */
  readonly redis: Redis;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly readiness: Record<string, ReadinessCheck>;
  /** Sessions that ended (from `session.revoked`): the HTTP app refuses their tokens. */
  readonly revocations: SessionRevocations;
  close(): Promise<void>;
}

/** The migration sources of a service: the bus's outbox/inbox tables, then the service's own files. */
export function migrationSources(service: ServiceName, migrationsDir: string): MigrationSource[] {
  return [busMigrations, { name: service, dir: migrationsDir }];
}

export async function openInfra(
  service: ServiceName,
  config: ChassisConfig,
  logger: Logger,
  migrationsDir: string,
): Promise<Infra> {
  const redis = new Redis(config.redisUrl, {
    keyPrefix: config.redisPrefix,
    maxRetriesPerRequest: 3,
    lazyConnect: true,
    // While Redis is away a command fails at once instead of waiting in a queue for the reconnect, and a
    // Redis that hangs fails it after a second: callers fall back (caches miss, limits open) without stalling.
    enableOfflineQueue: false,
    commandTimeout: 1000,
  });
  // Without a listener ioredis reports connection errors as unhandled; commands fail on their own and
  // /readyz reports the outage, so a log line is all the event deserves.
  redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis connection error'));
  await redis.connect();

  const nc = await connect({
    ...natsConnectOptions(config, service),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  });
  void (async () => {
    for await (const status of nc.status()) {
      logger.info({ nats: status.type, data: String(status.data) }, 'nats connection status');
    }
  })();
  const jsm = await nc.jetstreamManager();
  await ensureStreams(jsm, { prefix: config.natsPrefix, replicas: config.streamReplicas });
  const js = nc.jetstream();

  const liveMap = config.shardMapLive
    ? await openShardMapStore(js, { prefix: config.natsPrefix })
    : undefined;
  const initial = (await liveMap?.seed(config.shardMap)) ?? liveMapFromConfig(config.shardMap);
  const shards = createShards({
    service,
    map: rangesOf(initial),
    version: initial.version,
    ...shardPoolOptions(config),
  });
  await assertMigrated({ shards, sources: migrationSources(service, migrationsDir) });
  const watcher = await liveMap?.watch(
    (map) => {
      const from = shards.version;
      shards.apply(rangesOf(map), map.version).then(
        () => {
          if (shards.version > from) logger.info({ version: shards.version }, 'shard map applied');
        },
        (err: unknown) => logger.error({ err }, 'shard map not applied'),
      );
    },
    (err) => logger.error({ err }, 'shard map unreadable'),
  );
  const revocations = await watchRevocations({ js, jsm, prefix: config.natsPrefix, logger });
  // Every service's shard schemas hold an inbox; a day past the streams' age keeps replays deduplicated.
  const inboxPruner = startInboxPruner({
    shards: shards.logicalShards.map((n) => shards.forShard(n)),
    retentionMs: DEFAULT_STREAM_MAX_AGE_MS + 24 * 60 * 60 * 1000,
    logger,
  });

  return {
    shards,
    redis,
    nc,
    js,
    jsm,
    revocations: revocations.list,
    readiness: {
      postgres: () => shards.ping(),
      redis: () => redis.ping(),
      nats: () => jsm.getAccountInfo(),
    },
    close: async () => {
      watcher?.stop();
      await inboxPruner.stop();
      await revocations.stop();
      await nc.drain().catch((err: unknown) => logger.warn({ err }, 'nats drain failed'));
      await redis.quit().catch(() => redis.disconnect());
      await shards.close();
    },
  };
}
