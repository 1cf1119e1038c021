import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type ConfigOf, type ConfigSpec, loadConfig } from '@instantpost/config';
import { signAccessToken } from '@instantpost/http';
import { createLogger } from '@instantpost/telemetry';
import type { TestNamespace } from '@instantpost/testing';
import { type ChassisConfig, chassisSpec, type ServiceName } from './config.ts';
import { type Infra, openInfra } from './infra.ts';
import type { BuiltService, ServiceContext } from './run.ts';
import { setupService } from './setup.ts';

/** Keys for access tokens made for one test namespace. */
export interface TestKeys {
  publicKey: KeyObject;
  privateKey: KeyObject;
  /** The same keys as base64 PEM, as the services read them from the environment, and a media URL key. */
  env: { JWT_PUBLIC_KEY: string; JWT_PRIVATE_KEY: string; MEDIA_URL_SIGNING_KEY: string };
  /** A valid access token for a user. */
  tokenFor(user: { id: string; username: string }, ttlSeconds?: number): string;
}

export function makeTestKeys(): TestKeys {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKey,
    privateKey,
    env: {
      JWT_PUBLIC_KEY: Buffer.from(publicKey.export({ type: 'spki', format: 'pem' })).toString('base64'),
      JWT_PRIVATE_KEY: Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' })).toString('base64'),
      MEDIA_URL_SIGNING_KEY: randomBytes(32).toString('base64url'),
    },
    tokenFor: (user, ttlSeconds = 600) =>
      signAccessToken(privateKey, { sub: user.id, username: user.username }, ttlSeconds),
  };
}

function databaseUrl(ns: TestNamespace, database: string): string {
  const url = new URL(ns.infra.postgresUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * The environment a service reads, pointed at a test namespace: logical shards 0-7 on the namespace's
 * first database and 8-15 on its second (so every service test crosses two physical databases),
 * its Redis prefix, NATS prefix and bucket.
 */
export function testEnvironment(
  service: ServiceName,
  ns: TestNamespace,
  keys: TestKeys,
): Record<string, string> {
  const [db0, db1] = ns.postgres.databases;
  if (!db0 || !db1) throw new Error('the namespace needs two databases: openNamespace({ databases: 2 })');
  return {
    SHARD_MAP: `0-7=${databaseUrl(ns, db0)};8-15=${databaseUrl(ns, db1)}`,
    PG_POOL_MAX: '3',
    REDIS_URL: ns.redis.url,
    REDIS_PREFIX: `${ns.redis.prefix}${service}:`,
    NATS_URL: ns.nats.servers,
    NATS_PREFIX: ns.nats.prefix,
    S3_ENDPOINT: ns.s3.endpoint,
    S3_REGION: ns.s3.region,
    S3_ACCESS_KEY_ID: ns.s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: ns.s3.secretAccessKey,
    S3_BUCKET: ns.s3.bucket,
    LOG_LEVEL: 'warn',
    ...keys.env,
  };
}

/** A service built in-process on a test namespace, as `main.ts` builds it. */
export interface TestService<C> extends BuiltService {
  readonly ctx: ServiceContext<C>;
  readonly infra: Infra;
  readonly config: ChassisConfig & C;
  close(): Promise<void>;
}

export interface OpenTestServiceOptions<S extends ConfigSpec> {
  service: ServiceName;
  ns: TestNamespace;
  keys: TestKeys;
  spec: S;
  migrations: URL;
  build: (ctx: ServiceContext<ConfigOf<S>>) => Promise<BuiltService>;
  /** Variables to add or override. */
  env?: Record<string, string>;
  /** Run migrations and stream declarations first (once per namespace is enough). */
  setup?: boolean;
}

/** Migrates the service's schemas in the namespace, opens its clients and builds its app (ready, not listening). */
export async function openTestService<S extends ConfigSpec>(
  options: OpenTestServiceOptions<S>,
): Promise<TestService<ConfigOf<S>>> {
  const env = { ...testEnvironment(options.service, options.ns, options.keys), ...options.env };
  if (options.setup ?? true) await setupService(options.service, options.migrations, { env });
  const config = loadConfig({ ...chassisSpec(options.service), ...options.spec }, env) as ChassisConfig &
    ConfigOf<S>;
  const logger = createLogger({ service: options.service, level: config.logLevel });
  const infra = await openInfra(options.service, config, logger, fileURLToPath(options.migrations));
  const ctx: ServiceContext<ConfigOf<S>> = { config, infra, logger };
  const built = await options.build(ctx);
  await built.app.ready();
  // Closing twice (a test's own close, then its fixture's) waits for the one close.
  let closed: Promise<void> | undefined;
  return {
    ...built,
    ctx,
    infra,
    config,
    close: () => {
      closed ??= (async () => {
        await built.app.close();
        await built.stop?.();
        await infra.close();
      })();
      return closed;
    },
  };
}
