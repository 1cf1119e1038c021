import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, type WriteStream } from 'node:fs';
import { availableParallelism, getPriority, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ServiceName } from '@instantpost/chassis';
import { reportedPort } from '@instantpost/testing';
import { waitForOk } from './ports.ts';

const execFileAsync = promisify(execFile);

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function serviceDir(service: ServiceName): string {
  return `${REPO_ROOT}services/${service}`;
}

/** Where a child process's output goes: a file (tests), or this terminal with a name before each line. */
export type LogSink = { file: string } | 'terminal';

function pipeOutput(child: ChildProcess, label: string, sink: LogSink): WriteStream | undefined {
  if (sink === 'terminal') {
    const prefix = (chunk: Buffer) =>
      chunk
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((line) => `${label.padEnd(20)} | ${line}\n`)
        .join('');
    child.stdout?.on('data', (c: Buffer) => process.stdout.write(prefix(c)));
    child.stderr?.on('data', (c: Buffer) => process.stderr.write(prefix(c)));
    return undefined;
  }
  const out = createWriteStream(sink.file, { flags: 'a' });
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  return out;
}

/**
 * How a service's TypeScript runs: Node's own type stripping (the default: the code is erasable-only,
 * no compiler loads at run time), or the tsx loader it ran under before (kept to compare the two).
 */
export type Runtime = 'node' | 'tsx';

/**
 * Node's arguments before the script for a runtime, plus SERVICE_NODE_ARGS from the environment (flags
 * NODE_OPTIONS refuses, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile every service of a bench).
 */
export function runtimeArgs(runtime: Runtime): string[] {
  const extra = (process.env.SERVICE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  return [...(runtime === 'tsx' ? ['--import', 'tsx'] : []), ...extra];
}

/**
 * Node's arguments of the service's `start` script (`node --single-threaded-gc --import … src/main.ts`):
 * the local stack starts a service as its image does (the image's CMD is that script, deploy/k8s-checks).
 */
export function startScriptArgs(service: ServiceName): string[] {
  const pkg = JSON.parse(readFileSync(`${serviceDir(service)}/package.json`, 'utf8')) as {
    scripts?: { start?: string };
  };
  const [node, ...args] = (pkg.scripts?.start ?? '').split(/\s+/).filter(Boolean);
  if (node !== 'node')
    throw new Error(`services/${service}'s start script does not run node: ${pkg.scripts?.start}`);
  return args;
}

/** Runs `node <script>` in a service's folder and resolves with its exit code. */
export function runServiceScript(
  service: ServiceName,
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  sink: LogSink,
  runtime: Runtime = 'node',
): Promise<number> {
  const child = spawn(process.execPath, [...runtimeArgs(runtime), script, ...args], {
    cwd: serviceDir(service),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = pipeOutput(child, `${service} (setup)`, sink);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      out?.end();
      resolve(code ?? 1);
    });
  });
}

/**
 * How a process competes for the CPU once it is ready (Linux): `niceness` is its nice value; `idle` puts it
 * under SCHED_IDLE (it gets a core only when no normal task wants one, and a normal task waking up preempts
 * it at once). Batch work (photo processing) takes both, so reads are never queued behind it.
 */
export interface CpuPriority {
  readonly niceness?: number;
  readonly idle?: boolean;
  /** The CPUs it may run on once ready (a taskset list, e.g. `1` or `1-7`). */
  readonly cpus?: string;
}

/** `chrt` (util-linux) is there to set SCHED_IDLE; without it an idle priority falls back to its nice value. */
export const haveChrt =
  process.platform === 'linux' && spawnSync('chrt', ['--version'], { stdio: 'ignore' }).status === 0;

/** `taskset` (util-linux) is there to give a process its own CPUs. */
export const haveTaskset =
  process.platform === 'linux' && spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;

/** The command that starts `node <args>` under `nice -n <niceness>` when asked (coreutils' nice; not on Windows). */
export function nodeCommand(args: string[], niceness = 0): [string, string[]] {
  if (niceness === 0 || process.platform === 'win32') return [process.execPath, args];
  return ['nice', ['-n', String(niceness), process.execPath, ...args]];
}

/**
 * Every CPU but the first (`1-<n-1>`), or undefined on a single core: batch work confined there can never
 * occupy every core, so the read path always has one free of its work (and of its cache footprint:
 * measured here, reads slowed while photos were processed on their core even at SCHED_IDLE, and recovered
 * with media-processing stopped).
 */
export function allButFirstCpu(cores = availableParallelism()): string | undefined {
  if (cores < 2) return undefined;
  return cores === 2 ? '1' : `1-${cores - 1}`;
}

/**
 * Lowers a running process's priority: confines every thread to `cpus` (`taskset -a`), raises every
 * thread's nice value by `niceness` (`setpriority` on each thread id: on Linux a nice value belongs to a
 * thread) and, with `idle`, puts every thread under SCHED_IDLE (`chrt -a`). Threads started later inherit
 * all three from the thread that starts them (libuv's pool, libvips' workers). Done once the process is
 * ready, not at exec: on a machine kept busy by normal tasks a process started at nice 10, idle or on one
 * busy CPU waits for a free core even to load its code (measured: media-processing missed its 30 s
 * readiness deadline at load average ~20-30 on two cores, each way). Linux only; elsewhere a no-op.
 */
export async function lowerPriority(pid: number, priority: CpuPriority): Promise<void> {
  if (process.platform !== 'linux') return;
  if (priority.cpus && haveTaskset)
    await execFileAsync('taskset', ['-a', '-p', '-c', priority.cpus, String(pid)]);
  if (priority.niceness) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        setPriority(Number(tid), Math.min(19, getPriority(Number(tid)) + priority.niceness));
      } catch {
        // the thread exited meanwhile
      }
    }
  }
  if (priority.idle && haveChrt) await execFileAsync('chrt', ['-a', '--idle', '-p', '0', String(pid)]);
}

/** One running replica of a service. */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);

  readonly service: ServiceName;
  readonly replica: number;
  private listenPort: number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly sink: LogSink;
  readonly runtime: Runtime;
  /** Its CPU priority (`{}`: the parent's; media-processing in the stack: SCHED_IDLE and nice 10). */
  readonly priority: CpuPriority;

  constructor(
    service: ServiceName,
    replica: number,
    port: number,
    env: NodeJS.ProcessEnv,
    sink: LogSink,
    runtime: Runtime = 'node',
    priority: CpuPriority = {},
  ) {
    this.service = service;
    this.replica = replica;
    this.listenPort = port;
    this.env = env;
    this.sink = sink;
    this.runtime = runtime;
    this.priority = priority;
  }

  get name(): string {
    return `${this.service}#${this.replica}`;
  }

  /**
   * The port it listens on: the one it was given or, given 0, the one its first start bound (the child
   * reports it), kept for restarts so the gateway's upstream stays right. A port chosen here and bound in
   * the child could be taken in between by another test's process.
   */
  get port(): number {
    return this.listenPort;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Starts the process and waits until its /readyz answers 200. 90 s: five services loading at once on a
   * two-core machine shared with other work (load average ~30) took longer than the 30 s this used to allow.
   */
  async start(timeoutMs = 90_000): Promise<void> {
    const child = spawn(process.execPath, [...runtimeArgs(this.runtime), ...startScriptArgs(this.service)], {
      cwd: serviceDir(this.service),
      env: { ...this.env, PORT: String(this.listenPort), SERVICE_NAME: this.service },
      // The IPC channel only carries the bound port (libs/chassis run.ts `announcePort`).
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.child = child;
    const out = pipeOutput(child, this.name, this.sink);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        out?.end();
        resolve(code);
      }),
    );
    try {
      if (this.listenPort === 0) this.listenPort = await reportedPort(child, timeoutMs);
      await waitForOk(`http://127.0.0.1:${this.port}/readyz`, { timeoutMs, alive: () => this.running });
    } catch (err) {
      throw new Error(`${this.name}: ${(err as Error).message}`, { cause: err });
    }
    if (child.pid !== undefined) await lowerPriority(child.pid, this.priority);
  }

  /** SIGTERM, then the exit code (null if it had to be killed after `timeoutMs`). */
  async stop(timeoutMs = 10_000): Promise<number | null> {
    if (!this.running) return this.child?.exitCode ?? null;
    this.child?.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** SIGKILL: a crash, for fault tests. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGKILL');
    await this.exited;
  }
}
