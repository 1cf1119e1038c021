import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { SERVICE_PORTS, type ServiceName } from '@instantpost/chassis';
import { type Gateway, type GatewayTuning, startGateway } from './nginx.ts';
import {
  allButFirstCpu,
  type CpuPriority,
  type LogSink,
  runServiceScript,
  ServiceProcess,
} from './service-process.ts';
import { ensureWebBuild } from './web.ts';

export const SERVICES = Object.keys(SERVICE_PORTS) as ServiceName[];

/**
 * CPU priorities of the services in the local stack. media-processing (sharp decoding and encoding every
 * rendition), once ready, is confined to every CPU but the first (unrestricted on a single core), so it
 * never occupies every core, and moves to nice 10 and SCHED_IDLE (nice 10 alone where chrt is missing), so
 * on its CPUs a read-path thread waking up preempts it at once. Its images in flight: two more than its
 * CPUs (mediaProcessingDefaults). nice 10 alone was measured not to protect reads (bench/system, p99 244 ms
 * with uploads flat out): a nice-10 task still gets ~10 % of a busy core in slices the reads wait behind.
 * In Kubernetes media-processing has its own node pool instead (k8s/components/media-node-pool).
 */
export const DEFAULT_PRIORITY: Partial<Record<ServiceName, CpuPriority>> = {
  'media-processing': { idle: true, niceness: 10, ...cpusOf(allButFirstCpu()) },
};

function cpusOf(cpus: string | undefined): { cpus?: string } {
  return cpus ? { cpus } : {};
}

export interface StackOptions {
  /** Environment shared by every service (SHARD_MAP, REDIS_URL, NATS_URL, JWT keys, S3 settings, …). */
  env: NodeJS.ProcessEnv;
  /** Each service's Redis keys go under `<redisPrefix><service>:`. */
  redisPrefix?: string;
  gatewayPort: number;
  /** Called right before the gateway starts: frees `gatewayPort` if the caller held it (reservePort). */
  releaseGatewayPort?: () => Promise<void>;
  /** nginx's config, temp files and cache; service logs when `logs` is a file. */
  workDir: string;
  replicas?: Partial<Record<ServiceName, number>>;
  /** `default`: 3001-3005 (+10 per extra replica); `random`: free ports (tests). */
  ports: 'default' | 'random';
  s3: { endpoint: string; bucket: string };
  uploadMaxBytes: number;
  logs: 'terminal' | 'files';
  /** Gateway settings other than the defaults (tests use short cache times and small limits). */
  gateway?: GatewayTuning;
  /** CPU priority per service (Linux); default DEFAULT_PRIORITY, `{}` runs all at the parent's. */
  priority?: Partial<Record<ServiceName, CpuPriority>>;
}

export interface Stack {
  readonly gatewayUrl: string;
  readonly processes: readonly ServiceProcess[];
  readonly gateway: Gateway;
  replicasOf(service: ServiceName): ServiceProcess[];
  /** SIGTERM to every service (then the gateway); the exit code of each. */
  stop(): Promise<Record<string, number | null>>;
}

function sinkFor(options: StackOptions, name: string): LogSink {
  return options.logs === 'terminal' ? 'terminal' : { file: join(options.workDir, `${name}.log`) };
}

/**
 * media-processing's images in flight on the CPUs the stack confines it to (every CPU but the first): two
 * more than those CPUs, so a CPU renders while images wait on S3, Postgres or NATS. Measured on one CPU
 * (bench/system, phone photos): 2 in flight kept it 0.85 busy, the pipeline at 0.84 of raw sharp; 3 at 0.94.
 * libuv's pool (where sharp runs) stays above it. `env` given to the stack overrides both.
 */
export function mediaProcessingDefaults(cores = availableParallelism()): NodeJS.ProcessEnv {
  const cpus = Math.max(1, cores - 1);
  return { MEDIA_CONCURRENCY: String(cpus + 2), UV_THREADPOOL_SIZE: String(Math.max(4, cpus + 4)) };
}

/** What every service of the stack reads: the shared settings, its own Redis prefix, the gateway's limits. */
function envFor(options: StackOptions, service: ServiceName): NodeJS.ProcessEnv {
  return {
    UPLOAD_MAX_BYTES: String(options.uploadMaxBytes),
    MEDIA_BASE_URL: `http://127.0.0.1:${options.gatewayPort}/media`,
    ...(service === 'media-processing' ? mediaProcessingDefaults() : {}),
    ...options.env,
    REDIS_PREFIX: `${options.redisPrefix ?? ''}${service}:`,
  };
}

/** Migrates every service's shard schemas and declares the streams (creating the databases if missing). */
export async function setupStack(options: StackOptions): Promise<void> {
  mkdirSync(options.workDir, { recursive: true });
  const run = async (service: ServiceName, args: string[]) => {
    const code = await runServiceScript(
      service,
      'src/setup.ts',
      args,
      envFor(options, service),
      sinkFor(options, 'setup'),
    );
    if (code !== 0)
      throw new Error(`setup of ${service} failed (exit ${code}); see the log above or ${options.workDir}`);
  };
  // The first creates the databases; the others then migrate their own schemas side by side.
  const [first, ...rest] = SERVICES as [ServiceName, ...ServiceName[]];
  await run(first, ['--create-databases']);
  await Promise.all(rest.map((s) => run(s, [])));
}

/** Starts every service (replicas as asked), waits for each /readyz, then the gateway in front of them. */
export async function startStack(options: StackOptions): Promise<Stack> {
  mkdirSync(options.workDir, { recursive: true });
  // The gateway serves the web client at /: built now when missing or stale (once for parallel tests).
  const webBuild = ensureWebBuild((line) => {
    if (options.logs === 'terminal') process.stdout.write(`${'web'.padEnd(20)} | ${line}\n`);
  });
  webBuild.catch(() => {}); // awaited below with the services; this only keeps the rejection handled meanwhile
  const processes: ServiceProcess[] = [];
  for (const service of SERVICES) {
    const count = options.replicas?.[service] ?? 1;
    for (let replica = 0; replica < count; replica++) {
      // 0: the child binds a port of its choosing and reports it (no port chosen here and taken meanwhile).
      const port = options.ports === 'default' ? SERVICE_PORTS[service] + 10 * replica : 0;
      processes.push(
        new ServiceProcess(
          service,
          replica,
          port,
          envFor(options, service),
          sinkFor(options, `${service}-${replica}`),
          'node',
          (options.priority ?? DEFAULT_PRIORITY)[service] ?? {},
        ),
      );
    }
  }
  try {
    await Promise.all([...processes.map((p) => p.start()), webBuild]);
  } catch (err) {
    await Promise.all(processes.map((p) => p.stop()));
    throw err;
  }
  const upstreams = Object.fromEntries(
    SERVICES.map((s) => [s, processes.filter((p) => p.service === s).map((p) => `127.0.0.1:${p.port}`)]),
  ) as Record<ServiceName, string[]>;
  const mediaUrlSigningKey = options.env.MEDIA_URL_SIGNING_KEY;
  let gateway: Gateway;
  try {
    if (!mediaUrlSigningKey)
      throw new Error('the stack needs MEDIA_URL_SIGNING_KEY (services and gateway share it)');
    await options.releaseGatewayPort?.();
    gateway = await startGateway({
      workDir: join(options.workDir, 'nginx'),
      listen: options.gatewayPort,
      upstreams,
      s3: options.s3,
      uploadMaxBytes: options.uploadMaxBytes,
      accessLog: options.logs === 'files',
      mediaUrlSigningKey,
      ...options.gateway,
    });
  } catch (err) {
    // No service outlives a stack that did not start (a test's worker would wait for them forever).
    await Promise.all(processes.map((p) => p.stop()));
    throw err;
  }
  return {
    gatewayUrl: gateway.url,
    processes,
    gateway,
    replicasOf: (service) => processes.filter((p) => p.service === service),
    stop: async () => {
      const codes = await Promise.all(processes.map(async (p) => [p.name, await p.stop()] as const));
      await gateway.stop();
      return Object.fromEntries(codes);
    },
  };
}
