/// <reference path="./s3rver.d.ts" />
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/** Where the test infrastructure lives. Found once per process. */
export interface TestInfra {
  /** A Postgres URL of a superuser on the maintenance database; test databases are created from it. */
  postgresUrl: string;
  redisUrl: string;
  natsServers: string;
  s3: S3Endpoint;
  /** How it was found: given in the environment, found on the default local ports, or started in containers. */
  source: 'environment' | 'local' | 'containers';
}

export interface S3Endpoint {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

const LOCAL = {
  postgres: { host: '127.0.0.1', port: 5432, url: 'postgres://postgres@127.0.0.1:5432/postgres' },
  redis: { host: '127.0.0.1', port: 6379, url: 'redis://127.0.0.1:6379' },
  nats: { host: '127.0.0.1', port: 4222, url: 'nats://127.0.0.1:4222' },
};

export function isReachable(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

let found: Promise<TestInfra> | undefined;
const closers: Array<() => Promise<void>> = [];

/**
 * The infrastructure tests run on: `TEST_POSTGRES_URL`, `TEST_REDIS_URL`, `TEST_NATS_URL` (and optionally
 * `TEST_S3_ENDPOINT`) when set; otherwise the services on their default local ports when all answer;
 * otherwise containers started with testcontainers. `TEST_INFRA=containers` forces containers.
 * S3 is an in-process emulator (s3rver) unless `TEST_S3_ENDPOINT` is set.
 */
export function testInfra(): Promise<TestInfra> {
  found ??= discover();
  return found;
}

async function discover(): Promise<TestInfra> {
  const env = process.env;
  const s3 = env.TEST_S3_ENDPOINT
    ? {
        endpoint: env.TEST_S3_ENDPOINT,
        region: env.TEST_S3_REGION ?? 'us-east-1',
        accessKeyId: env.TEST_S3_ACCESS_KEY_ID ?? 'S3RVER',
        secretAccessKey: env.TEST_S3_SECRET_ACCESS_KEY ?? 'S3RVER',
      }
    : await startS3Emulator();
  if (env.TEST_POSTGRES_URL && env.TEST_REDIS_URL && env.TEST_NATS_URL) {
    return {
      postgresUrl: env.TEST_POSTGRES_URL,
      redisUrl: env.TEST_REDIS_URL,
      natsServers: env.TEST_NATS_URL,
      s3,
      source: 'environment',
    };
  }
  if (env.TEST_INFRA !== 'containers') {
    const up = await Promise.all(Object.values(LOCAL).map((s) => isReachable(s.host, s.port)));
    if (up.every(Boolean)) {
      return {
        postgresUrl: LOCAL.postgres.url,
        redisUrl: LOCAL.redis.url,
        natsServers: LOCAL.nats.url,
        s3,
        source: 'local',
      };
    }
  }
  return { ...(await startContainers()), s3, source: 'containers' };
}

async function startContainers(): Promise<Omit<TestInfra, 's3' | 'source'>> {
  const [{ PostgreSqlContainer }, { RedisContainer }, { NatsContainer }] = await Promise.all([
    import('@testcontainers/postgresql'),
    import('@testcontainers/redis'),
    import('@testcontainers/nats'),
  ]);
  const [pg, redis, nats] = await Promise.all([
    new PostgreSqlContainer('postgres:16-alpine').start(),
    new RedisContainer('redis:7-alpine').start(),
    new NatsContainer('nats:2.9.24-alpine').withJetStream().start(),
  ]);
  closers.push(async () => {
    await Promise.all([pg.stop(), redis.stop(), nats.stop()]);
  });
  const natsOptions = nats.getConnectionOptions();
  return {
    postgresUrl: pg.getConnectionUri(),
    redisUrl: redis.getConnectionUrl(),
    natsServers: String(natsOptions.servers),
  };
}

async function startS3Emulator(): Promise<S3Endpoint> {
  const directory = mkdtempSync(join(tmpdir(), 'instantpost-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true });
  const address = await server.run();
  closers.push(async () => {
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  });
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
  };
}

/** Stops what `testInfra` started in this process (containers, the S3 emulator). */
export async function stopTestInfra(): Promise<void> {
  const all = closers.splice(0);
  await Promise.all(all.map((close) => close()));
  found = undefined;
}
