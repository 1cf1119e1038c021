import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServiceName } from '@instantpost/chassis';
import { waitForOk } from './ports.ts';

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

/** Node's arguments before the script for a runtime. */
export function runtimeArgs(runtime: Runtime): string[] {
  return runtime === 'tsx' ? ['--import', 'tsx'] : [];
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
 * The command that starts `node <args>`, under `nice -n <niceness>` when asked (Linux and other Unixes with
 * coreutils' nice). nice execs node in place, so the child's pid is node's and every thread node starts
 * (libuv's pool, where sharp/libvips work) inherits the lower priority; `os.setPriority` after spawn would
 * change only the main thread and race the threads node starts meanwhile.
 */
export function nodeCommand(args: string[], niceness = 0): [string, string[]] {
  if (niceness === 0 || process.platform === 'win32') return [process.execPath, args];
  return ['nice', ['-n', String(niceness), process.execPath, ...args]];
}

/** One running replica of a service. */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);

  readonly service: ServiceName;
  readonly replica: number;
  readonly port: number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly sink: LogSink;
  readonly runtime: Runtime;
  /** The process's nice value (0 = the parent's priority; 10 = media-processing in the stack). */
  readonly niceness: number;

  constructor(
    service: ServiceName,
    replica: number,
    port: number,
    env: NodeJS.ProcessEnv,
    sink: LogSink,
    runtime: Runtime = 'node',
    niceness = 0,
  ) {
    this.service = service;
    this.replica = replica;
    this.port = port;
    this.env = env;
    this.sink = sink;
    this.runtime = runtime;
    this.niceness = niceness;
  }

  get name(): string {
    return `${this.service}#${this.replica}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process and waits until its /readyz answers 200. */
  async start(timeoutMs = 30_000): Promise<void> {
    const [command, args] = nodeCommand(
      [...runtimeArgs(this.runtime), '--import', '@instantpost/telemetry/register', 'src/main.ts'],
      this.niceness,
    );
    const child = spawn(command, args, {
      cwd: serviceDir(this.service),
      env: { ...this.env, PORT: String(this.port), SERVICE_NAME: this.service },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const out = pipeOutput(child, this.name, this.sink);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        out?.end();
        resolve(code);
      }),
    );
    await waitForOk(`http://127.0.0.1:${this.port}/readyz`, { timeoutMs, alive: () => this.running });
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
