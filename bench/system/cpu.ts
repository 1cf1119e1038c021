/**
 * CPU time per process over a phase, from /proc/<pid>/task/<tid>/stat (utime + stime of every thread, in
 * clock ticks): which of the stack's processes took the CPU while reads and uploads ran together. Threads
 * that exit during the phase are not counted (node's and libvips' threads live as long as the process).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { descendants, pidsNamed } from './pin.ts';

/** Linux's USER_HZ: /proc reports CPU time in these ticks (100 on every mainstream architecture). */
const TICKS_PER_SECOND = 100;

function threadTicks(pid: number): number {
  let ticks = 0;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0; // exited
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): utime and stime are fields 14 and 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return ticks;
}

/** Named groups of pids, listed again at every sample (Postgres starts backends as pools grow). */
export type ProcessGroups = () => Record<string, readonly number[]>;

/**
 * The groups of a stack started by this benchmark: each service's processes, its nginx workers, the shared
 * servers (Postgres, Redis, NATS) and `extra` (this load generator, helper processes).
 */
export function stackGroups(
  processes: readonly { service: string; pid: number | undefined }[],
  extra: Record<string, readonly number[]>,
): ProcessGroups {
  return () => {
    const nginx = new Set(pidsNamed('nginx'));
    return {
      ...Object.fromEntries(processes.map((p) => [p.service, p.pid === undefined ? [] : [p.pid]])),
      nginx: descendants().filter((pid) => nginx.has(pid)),
      ...extra,
      'postgres (shared)': pidsNamed('postgres'),
      'redis (shared)': pidsNamed('redis-server'),
      'nats (shared)': pidsNamed('nats-server'),
    };
  };
}

export interface CpuSample {
  readonly at: number;
  /** Per group, the ticks of each pid. */
  readonly ticks: Record<string, Map<number, number>>;
}

export function sampleCpu(groups: ProcessGroups): CpuSample {
  return {
    at: performance.now(),
    ticks: Object.fromEntries(
      Object.entries(groups()).map(([name, pids]) => [
        name,
        new Map(pids.map((pid) => [pid, threadTicks(pid)])),
      ]),
    ),
  };
}

/**
 * Cores used by each group between two samples (1.0 = one core busy all the time), largest first; a pid
 * that appeared meanwhile counts from zero.
 */
export function coresUsed(from: CpuSample, to: CpuSample): [string, number][] {
  const seconds = (to.at - from.at) / 1000;
  return Object.entries(to.ticks)
    .map(([name, pids]): [string, number] => {
      let ticks = 0;
      for (const [pid, now] of pids) ticks += now - (from.ticks[name]?.get(pid) ?? 0);
      return [name, ticks / TICKS_PER_SECOND / seconds];
    })
    .sort((a, b) => b[1] - a[1]);
}

/** CPU milliseconds of one group between two samples (0 for a group not sampled). */
export function cpuMsOf(group: string, from: CpuSample, to: CpuSample): number {
  let ticks = 0;
  for (const [pid, now] of to.ticks[group] ?? []) ticks += now - (from.ticks[group]?.get(pid) ?? 0);
  return (ticks / TICKS_PER_SECOND) * 1000;
}

export function formatCores(used: [string, number][]): string {
  return used
    .filter(([, cores]) => cores >= 0.005)
    .map(([name, cores]) => `${name} ${cores.toFixed(2)}`)
    .join(', ');
}

/** Starts sampling `groups`; the function returned formats the cores each group used since. */
export function coresSince(groups: ProcessGroups): () => string {
  const from = sampleCpu(groups);
  return () => formatCores(coresUsed(from, sampleCpu(groups)));
}
