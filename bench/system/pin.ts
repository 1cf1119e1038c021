/**
 * CPU pinning of the stack this benchmark starts. Every child (service processes, nginx master and its
 * workers, the S3 emulator, the baseline server) inherits the benchmark's `taskset -c 1`; `pinTree` walks
 * this process's descendants through /proc/<pid>/task/<tid>/children and moves every thread of each with
 * `taskset -a -p -c <cpus> <pid>`. Threads created later inherit their creator's mask.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';

export const haveTaskset = spawnSync('taskset', ['-V']).status === 0;

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number),
    );
  } catch {
    return []; // exited meanwhile
  }
}

/** Every descendant of `root` (not `root` itself). */
export function descendants(root = process.pid): number[] {
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of childrenOf(queue.shift() as number)) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/** Pins every descendant of this process to `cpus`; the number pinned, or 0 without taskset. */
export function pinTree(cpus: string): number {
  if (!haveTaskset) return 0;
  let pinned = 0;
  for (const pid of descendants()) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
      pinned++;
    } catch {
      // a short-lived child (e.g. `taskset` itself) that is gone already
    }
  }
  return pinned;
}

/** Moves every thread of each of `pids` to `cpus` (nothing without taskset). */
export function pinProcesses(pids: readonly string[], cpus: string): void {
  if (!haveTaskset) return;
  for (const pid of pids) execFileSync('taskset', ['-a', '-p', '-c', cpus, pid], { stdio: 'ignore' });
}

/**
 * Every thread of each of `pids` at normal priority and nice 0 (`--other`, as raw sharp runs), or as the
 * local stack runs media-processing: SCHED_IDLE at nice 10 (`--idle`).
 */
export function schedule(pids: readonly string[], policy: '--other' | '--idle'): void {
  for (const pid of pids) {
    execFileSync('chrt', ['-a', policy, '-p', '0', pid], { stdio: 'ignore' });
    for (const tid of readdirSync(`/proc/${pid}/task`))
      setPriority(Number(tid), policy === '--idle' ? 10 : 0);
  }
}

/** The CPUs this process may run on, as `taskset -p` prints them (e.g. "1"). */
export function ownCpus(): string {
  return cpusOf(String(process.pid));
}

/** The CPUs process `pid` may run on, as `taskset -p` prints them (e.g. "0" or "0-1"). */
export function cpusOf(pid: string): string {
  if (!haveTaskset) return 'all';
  const out = spawnSync('taskset', ['-c', '-p', pid], { encoding: 'utf8' }).stdout;
  return out.split(':').pop()?.trim() ?? 'unknown';
}

/** Pids whose command name (/proc/<pid>/comm) is `name`, e.g. every postgres backend. */
export function pidsNamed(name: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
      } catch {
        return false;
      }
    });
}

/**
 * Moves every thread of every process of the shared servers (Postgres with its backends, NATS, Redis)
 * running now to `cpus`; the number moved (a backend that ended meanwhile is skipped). Returns the CPUs the
 * first of them was on before, to move them back.
 */
export function pinServers(cpus: string): { moved: number; before: string } {
  const pids = ['postgres', 'nats-server', 'redis-server'].flatMap(pidsNamed).map(String);
  const before = pids[0] === undefined ? cpus : cpusOf(pids[0]);
  let moved = 0;
  for (const pid of pids) {
    try {
      pinProcesses([pid], cpus);
      moved++;
    } catch {
      // ended meanwhile
    }
  }
  return { moved, before };
}

/**
 * Runs `work` with every thread of this process moved to `cpus`, then back where they were (nothing moves
 * without taskset).
 */
export async function withOwnCpus<T>(cpus: string, work: () => Promise<T>): Promise<T> {
  if (!haveTaskset) return work();
  const before = ownCpus();
  pinProcesses([String(process.pid)], cpus);
  try {
    return await work();
  } finally {
    pinProcesses([String(process.pid)], before);
  }
}
