/**
 * Start-up time and idle memory of each service under Node's own type stripping and under the tsx
 * loader, started exactly as the local stack starts them (`ServiceProcess`).
 *
 *   npm run runtime-bench -w @instantpost/local-stack -- [--rounds 3] [--idle-seconds 5]
 *
 * Runs on a test namespace of the running Postgres, Redis, NATS and S3 emulator (its own databases,
 * prefixes and bucket), migrated once. Each round starts every service once per runtime, one process at a
 * time, alternating the runtimes: start-up is spawn → `/readyz` 200; idle memory is the process's resident
 * set (VmRSS) after `--idle-seconds` of doing nothing. Prints the median of the rounds.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { SERVICE_PORTS, type ServiceName } from '@instantpost/chassis';
import { makeTestKeys, testEnvironment } from '@instantpost/chassis/testing';
import { openNamespace, stopTestInfra } from '@instantpost/testing';
import { type Runtime, ServiceProcess } from './service-process.ts';
import { type StackOptions, setupStack } from './stack.ts';

const RUNTIMES: readonly Runtime[] = ['tsx', 'node'];
const SERVICES = Object.keys(SERVICE_PORTS) as ServiceName[];

interface Sample {
  readyMs: number;
  /** CPU time (user + system) the process used until ready: less sensitive to a busy machine than `readyMs`. */
  cpuMs: number;
  /** The service's own process. */
  rssMb: number;
  /** With its child processes (a loader could keep a compiler process; tsx 4 keeps none). */
  treeMb: number;
}

/** Resident memory of one process in MB (Linux). */
function rssMbOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  const kb = Number(line?.match(/(\d+)/)?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`no VmRSS for process ${pid}`);
  return kb / 1024;
}

/** The process and every process below it. */
function processTree(pid: number): number[] {
  const children = readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
    readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
  );
  return [pid, ...children.flatMap(processTree)];
}

/** Resident memory of the process and its descendants, in MB. */
function treeRssMb(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + rssMbOf(p), 0);
}

/** CPU time (user + system) of one process so far, in ms (`/proc/<pid>/stat`, clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

async function measure(
  service: ServiceName,
  runtime: Runtime,
  env: NodeJS.ProcessEnv,
  logFile: string,
  idleMs: number,
): Promise<Sample> {
  const process_ = new ServiceProcess(service, 0, 0, env, { file: logFile }, runtime);
  const started = performance.now();
  try {
    await process_.start(60_000);
    const readyMs = performance.now() - started;
    const pid = process_.pid;
    if (pid === undefined) throw new Error(`${service} has no pid`);
    const cpuMs = cpuMsOf(pid);
    await sleep(idleMs);
    return { readyMs, cpuMs, rssMb: rssMbOf(pid), treeMb: treeRssMb(pid) };
  } finally {
    await process_.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      'idle-seconds': { type: 'string', default: '5' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: runtime-bench.ts [--rounds 3] [--idle-seconds 5]\n');
    return;
  }
  const rounds = Number(values.rounds);
  const idleMs = Number(values['idle-seconds']) * 1000;
  if (!Number.isInteger(rounds) || rounds < 1 || !(idleMs >= 0))
    throw new Error('bad --rounds or --idle-seconds');

  const ns = await openNamespace({ databases: 2 });
  const workDir = mkdtempSync(join(tmpdir(), 'instantpost-runtime-'));
  let keepLogs = false;
  try {
    const options: StackOptions = {
      env: { PATH: process.env.PATH, ...testEnvironment('metadata', ns, makeTestKeys()), PG_POOL_MAX: '2' },
      redisPrefix: ns.redis.prefix,
      gatewayPort: 8080,
      workDir,
      ports: 'random',
      s3: { endpoint: ns.s3.endpoint, bucket: ns.s3.bucket },
      uploadMaxBytes: 25 * 1024 * 1024,
      logs: 'files',
    };
    await setupStack(options);
    const samples = new Map<string, Sample[]>();
    for (let round = 1; round <= rounds; round++) {
      for (const service of SERVICES) {
        const env = { ...options.env, REDIS_PREFIX: `${ns.redis.prefix}${service}:` };
        // Alternate which runtime goes first, so drift of the machine's load hits both alike.
        const order = round % 2 === 1 ? RUNTIMES : [...RUNTIMES].reverse();
        for (const runtime of order) {
          const sample = await measure(service, runtime, env, join(workDir, `${service}.log`), idleMs);
          const key = `${service}:${runtime}`;
          samples.set(key, [...(samples.get(key) ?? []), sample]);
          process.stderr.write(
            `round ${round} ${key.padEnd(24)} ready ${sample.readyMs.toFixed(0)} ms, cpu ${sample.cpuMs} ms, rss ${sample.rssMb.toFixed(1)} MB, with children ${sample.treeMb.toFixed(1)} MB\n`,
          );
        }
      }
    }
    const cell = (service: ServiceName, runtime: Runtime) => {
      const list = samples.get(`${service}:${runtime}`) ?? [];
      return {
        readyMs: median(list.map((s) => s.readyMs)),
        cpuMs: median(list.map((s) => s.cpuMs)),
        rssMb: median(list.map((s) => s.rssMb)),
        treeMb: median(list.map((s) => s.treeMb)),
      };
    };
    const lines = [
      `median of ${rounds} rounds, idle ${idleMs / 1000} s, node ${process.version}`,
      '| service | ready, tsx | ready, node | CPU to ready, tsx | CPU to ready, node | idle RSS, tsx | idle RSS, node |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...SERVICES.map((service) => {
        const tsx = cell(service, 'tsx');
        const node = cell(service, 'node');
        const mb = (cell: { rssMb: number; treeMb: number }) =>
          cell.treeMb - cell.rssMb >= 0.5
            ? `${cell.rssMb.toFixed(0)} MB (${cell.treeMb.toFixed(0)} MB)`
            : `${cell.rssMb.toFixed(0)} MB`;
        return `| ${service} | ${tsx.readyMs.toFixed(0)} ms | ${node.readyMs.toFixed(0)} ms | ${tsx.cpuMs.toFixed(0)} ms | ${node.cpuMs.toFixed(0)} ms | ${mb(tsx)} | ${mb(node)} |`;
      }),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } catch (err) {
    keepLogs = true;
    process.stderr.write(`logs kept in ${workDir}\n`);
    throw err;
  } finally {
    await ns.close();
    await stopTestInfra();
    if (!keepLogs) rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`runtime-bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
