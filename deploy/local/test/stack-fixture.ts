import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceName } from '@instantpost/chassis';
import { makeTestKeys, testEnvironment } from '@instantpost/chassis/testing';
import type { TestNamespace } from '@instantpost/testing';
import {
  GatewayPortTaken,
  type GatewayTuning,
  reservePort,
  type Stack,
  type StackOptions,
  setupStack,
  startStack,
} from '../src/index.ts';
import { shardMapViaLocalSocket } from '../src/postgres-socket.ts';

export interface TestStack {
  readonly stack: Stack;
  readonly options: StackOptions;
  readonly url: string;
  /** MEDIA_URL_SIGNING_KEY of the services and the gateway (tests sign URLs of their own with it). */
  readonly mediaUrlKey: string;
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
    /** Gateway settings other than the defaults (cache validity, connection limits). */
    gateway?: GatewayTuning;
    /** The services reach Postgres through its Unix socket when it answers, as `npm start` (benchmarks). */
    postgresSocket?: boolean;
  } = {},
): Promise<TestStack> {
  const workDir = mkdtempSync(join(tmpdir(), 'instantpost-stack-'));
  // mkdtemp makes it 0700; nginx's workers (nobody, when run as root) must reach their cache inside it.
  chmodSync(workDir, 0o755);
  // The gateway's port is held here until the gateway starts (the services' signed URLs name it before).
  const gatewayPort = await reservePort();
  // The services' shared settings as the in-process service tests get them (shards 0-7 and 8-15 on two
  // databases); the stack gives each service its own REDIS_PREFIX.
  const shared = testEnvironment('metadata', ns, makeTestKeys());
  if (options.postgresSocket && shared.SHARD_MAP)
    shared.SHARD_MAP = await shardMapViaLocalSocket(shared.SHARD_MAP);
  const stackOptions: StackOptions = {
    env: {
      PATH: process.env.PATH,
      ...shared,
      PG_POOL_MAX: '2',
      // Tests and benchmarks sign many people up from one loopback address; the limit has its own tests.
      SIGNUP_MAX_PER_ADDRESS: '100000',
      ...options.env,
    },
    redisPrefix: ns.redis.prefix,
    gatewayPort: gatewayPort.port,
    releaseGatewayPort: gatewayPort.release,
    workDir,
    ports: 'random',
    replicas: options.replicas,
    s3: { endpoint: ns.s3.endpoint, bucket: ns.s3.bucket },
    uploadMaxBytes: options.uploadMaxBytes ?? 25 * 1024 * 1024,
    logs: 'files',
    ...(options.gateway ? { gateway: options.gateway } : {}),
  };
  try {
    await setupStack(stackOptions);
    const stack = await startStack(stackOptions).catch(async (err: unknown) => {
      // Another process took the port in the moment between its release and nginx's bind: once more.
      if (!(err instanceof GatewayPortTaken)) throw err;
      const again = await reservePort();
      Object.assign(stackOptions, { gatewayPort: again.port, releaseGatewayPort: again.release });
      return startStack(stackOptions);
    });
    return {
      stack,
      options: stackOptions,
      url: stack.gatewayUrl,
      mediaUrlKey: stackOptions.env.MEDIA_URL_SIGNING_KEY ?? '',
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
