/**
 * `npm start`: the whole system on this machine. Checks (starts, installs) Postgres, Redis, NATS and nginx,
 * starts the S3 emulator, migrates every service, starts the five services and the gateway on :8080,
 * and stops everything it started on Ctrl-C. With `--monitoring` (or MONITORING=1), Prometheus too.
 */
import { join } from 'node:path';
import { parseCommand } from '@instantpost/config/cli';
import { DEFAULT_LOCAL_SHARD_MAP } from '@instantpost/shards';
import { isReachable } from '@instantpost/testing';
import { localJwtKeys, localMediaUrlKey } from './keys.ts';
import { findNginx, findNjsModule } from './nginx.ts';
import { shardMapViaLocalSocket } from './postgres-socket.ts';
import {
  findPrometheus,
  PROMETHEUS_PORT,
  type RunningPrometheus,
  startPrometheus,
  targetsOf,
} from './prometheus.ts';
import { LOCAL_S3, startLocalS3 } from './s3.ts';
import { REPO_ROOT } from './service-process.ts';
import { type StackOptions, setupStack, startStack } from './stack.ts';
import { ensureInfrastructure, ensureNginx, ensureNjs, ensurePrometheus } from './system.ts';

const GATEWAY_PORT = Number(process.env.GATEWAY_PORT ?? 8080);
const S3_PORT = Number(process.env.S3_PORT ?? 9000);
const UPLOAD_MAX_BYTES = Number(process.env.UPLOAD_MAX_BYTES ?? 25 * 1024 * 1024);
const STATE_DIR = join(REPO_ROOT, '.local');
const log = (line: string) => process.stdout.write(`${'stack'.padEnd(20)} | ${line}\n`);

const COMMAND = {
  name: 'npm start --',
  synopsis: '[--monitoring]',
  summary:
    'The whole system on this machine: Postgres, Redis, NATS, the S3 emulator, the five services and the gateway on :8080.',
  options: {
    monitoring: {
      type: 'boolean',
      description: `also run Prometheus (Debian's package) on 127.0.0.1:${PROMETHEUS_PORT}, scraping every service with deploy/monitoring's rules loaded`,
    },
  },
  notes: 'Environment: MONITORING=1 is the same as --monitoring; GATEWAY_PORT, S3_PORT, UPLOAD_MAX_BYTES.',
} as const;

async function main(): Promise<void> {
  const { values } = parseCommand(COMMAND);
  const monitoring = values.monitoring === true || /^(1|true|yes)$/i.test(process.env.MONITORING ?? '');
  const ports: (readonly [string, number])[] = [
    ['the gateway', GATEWAY_PORT],
    ['the S3 emulator', S3_PORT],
  ];
  if (monitoring) ports.push(['Prometheus', PROMETHEUS_PORT]);
  for (const [what, port] of ports) {
    if (await isReachable('127.0.0.1', port)) {
      throw new Error(
        `port ${port} (${what}) is in use: is InstantPost already running? Stop it with Ctrl-C first.`,
      );
    }
  }
  const stopInfrastructure = await ensureInfrastructure(log);
  ensureNginx(findNginx(), log);
  ensureNjs(findNjsModule(), log);
  if (monitoring) ensurePrometheus(findPrometheus(), log);
  const s3 = await startLocalS3(join(STATE_DIR, 's3'), S3_PORT);
  log(`S3 emulator: ${s3.endpoint}, bucket ${LOCAL_S3.bucket}`);
  const keys = localJwtKeys(join(STATE_DIR, 'keys'));
  // The default map's databases are on this machine: through Postgres's Unix socket when it answers.
  const shardMap = process.env.SHARD_MAP ?? (await shardMapViaLocalSocket(DEFAULT_LOCAL_SHARD_MAP));
  if (shardMap.includes('?host=')) log('Postgres: through its Unix socket');
  const options: StackOptions = {
    env: {
      ...process.env,
      SHARD_MAP: shardMap,
      JWT_PUBLIC_KEY: keys.publicKey,
      JWT_PRIVATE_KEY: keys.privateKey,
      MEDIA_URL_SIGNING_KEY: localMediaUrlKey(join(STATE_DIR, 'keys')),
      S3_ENDPOINT: s3.endpoint,
      S3_REGION: LOCAL_S3.region,
      S3_ACCESS_KEY_ID: LOCAL_S3.accessKeyId,
      S3_SECRET_ACCESS_KEY: LOCAL_S3.secretAccessKey,
      S3_BUCKET: LOCAL_S3.bucket,
    },
    gatewayPort: GATEWAY_PORT,
    workDir: join(STATE_DIR, 'run'),
    ports: 'default',
    s3: { endpoint: s3.endpoint, bucket: LOCAL_S3.bucket },
    uploadMaxBytes: UPLOAD_MAX_BYTES,
    logs: 'terminal',
  };
  log('migrating every service and declaring the streams');
  await setupStack(options);
  const stack = await startStack(options);
  let prometheus: RunningPrometheus | undefined;
  if (monitoring) {
    try {
      prometheus = await startPrometheus({
        targets: targetsOf(stack.processes),
        workDir: join(STATE_DIR, 'run', 'prometheus'),
        storageDir: join(STATE_DIR, 'prometheus'),
        logs: 'terminal',
      });
    } catch (err) {
      await stack.stop();
      await s3.stop();
      stopInfrastructure();
      throw err;
    }
    log(
      `Prometheus: ${prometheus.url} (alerts: ${prometheus.url}/alerts, targets: ${prometheus.url}/targets, rules: ${prometheus.url}/rules)`,
    );
  }
  log(`InstantPost is up: ${stack.gatewayUrl} (Ctrl-C stops everything this command started)`);

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    log('stopping');
    await prometheus?.stop();
    const codes = await stack.stop();
    await s3.stop();
    stopInfrastructure();
    log(
      `stopped: ${Object.entries(codes)
        .map(([name, code]) => `${name}=${code}`)
        .join(' ')}`,
    );
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
}

main().catch((err: unknown) => {
  process.stderr.write(`npm start failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
