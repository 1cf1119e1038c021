import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceName } from '@instantpost/chassis';
import type { TestNamespace } from '@instantpost/testing';
import { freePort, type Stack, type StackOptions, setupStack, startStack } from '../src/index.ts';

const base64Pem = (key: KeyObject, type: 'spki' | 'pkcs8') =>
  Buffer.from(key.export({ type, format: 'pem' })).toString('base64');

function databaseUrl(ns: TestNamespace, database: string): string {
  const url = new URL(ns.infra.postgresUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export interface TestStack {
  readonly stack: Stack;
  readonly options: StackOptions;
  readonly url: string;
  /** Stops every process (exit codes of each) and removes the work directory. */
  stop(): Promise<Record<string, number | null>>;
}

/**
 * The real processes (every service as `npm start` runs it, the nginx gateway) on a test namespace:
 * logical shards 0-7 and 8-15 on its two databases, its Redis prefix, NATS prefix and bucket.
 */
export async function openTestStack(
  ns: TestNamespace,
  options: {
    replicas?: Partial<Record<ServiceName, number>>;
    uploadMaxBytes?: number;
    /** Variables to add or override (e.g. NATS_URL of a test's own server). */
    env?: Record<string, string>;
  } = {},
): Promise<TestStack> {
  const [db0, db1] = ns.postgres.databases;
  if (!db0 || !db1) throw new Error('the stack needs two databases: openNamespace({ databases: 2 })');
  const keys = generateKeyPairSync('ed25519');
  const workDir = mkdtempSync(join(tmpdir(), 'instantpost-stack-'));
  // mkdtemp makes it 0700; nginx's workers (nobody, when run as root) must reach their cache inside it.
  chmodSync(workDir, 0o755);
  const stackOptions: StackOptions = {
    env: {
      PATH: process.env.PATH,
      SHARD_MAP: `0-7=${databaseUrl(ns, db0)};8-15=${databaseUrl(ns, db1)}`,
      PG_POOL_MAX: '2',
      REDIS_URL: ns.redis.url,
      NATS_URL: ns.nats.servers,
      NATS_PREFIX: ns.nats.prefix,
      JWT_PUBLIC_KEY: base64Pem(keys.publicKey, 'spki'),
      JWT_PRIVATE_KEY: base64Pem(keys.privateKey, 'pkcs8'),
      S3_ENDPOINT: ns.s3.endpoint,
      S3_REGION: ns.s3.region,
      S3_ACCESS_KEY_ID: ns.s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: ns.s3.secretAccessKey,
      S3_BUCKET: ns.s3.bucket,
      LOG_LEVEL: 'warn',
      ...options.env,
    },
    redisPrefix: ns.redis.prefix,
    gatewayPort: await freePort(),
    workDir,
    ports: 'random',
    replicas: options.replicas,
    s3: { endpoint: ns.s3.endpoint, bucket: ns.s3.bucket },
    uploadMaxBytes: options.uploadMaxBytes ?? 25 * 1024 * 1024,
    logs: 'files',
  };
  try {
    await setupStack(stackOptions);
    const stack = await startStack(stackOptions);
    return {
      stack,
      options: stackOptions,
      url: stack.gatewayUrl,
      stop: async () => {
        try {
          return await stack.stop();
        } finally {
          // KEEP_STACK_LOGS=1 keeps the services' and nginx's logs for a look after the test.
          if (!process.env.KEEP_STACK_LOGS) rmSync(workDir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    // Keep the logs of a stack that failed to start: the error names the directory.
    throw new Error(`the test stack failed to start (logs in ${workDir}): ${(err as Error).message}`, {
      cause: err,
    });
  }
}
