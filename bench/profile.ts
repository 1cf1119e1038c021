/**
 * Reads the CPU profiles a benchmark's services wrote and says where each process spent its busy time:
 * by package (or the repository's own file) and by function, self time, idle excluded.
 *
 *   SERVICE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" BENCH_PHASES=spread \
 *     node --import tsx bench/interactions/run.ts
 *   node --import tsx bench/profile.ts /tmp/prof [top=15]
 *
 * A profile covers its process's whole life (start-up included): compare runs of the same length.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** The service whose sources the profile mostly names (services/<name>/src), else the file name. */
  process: string;
  busyMs: number;
  byPackage: [string, number][];
  byFunction: [string, number][];
}

const IDLE = new Set(['(idle)', '(program)']);

/** A frame's owner: the npm package, the repository's own file, a node: module or a V8 pseudo-frame. */
function ownerOf(url: string, functionName: string): string {
  const pkg = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (pkg?.[1]) return pkg[1];
  const own = url.match(/\/((?:services|libs|bench|deploy)\/.+)$/);
  if (own?.[1]) return own[1];
  if (url !== '') return url;
  return functionName.startsWith('(') ? functionName : '(native)';
}

function top(totals: Map<string, number>, count: number): [string, number][] {
  return [...totals].sort((a, b) => b[1] - a[1]).slice(0, count);
}

export function summarize(profile: CpuProfile, name: string, count = 15): ProfileSummary {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const services = new Map<string, number>();
  let busyUs = 0;
  profile.samples.forEach((id, i) => {
    const frame = nodes.get(id)?.callFrame;
    const us = profile.timeDeltas[i] ?? 0;
    if (!frame || IDLE.has(frame.functionName)) return;
    busyUs += us;
    const owner = ownerOf(frame.url, frame.functionName);
    byPackage.set(owner, (byPackage.get(owner) ?? 0) + us);
    const fn = `${frame.functionName || '(anonymous)'} ${owner}:${frame.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  });
  for (const node of profile.nodes) {
    const service = node.callFrame.url.match(/\/services\/([^/]+)\/src\//)?.[1];
    if (service) services.set(service, (services.get(service) ?? 0) + 1);
  }
  const toMs = ([k, us]: [string, number]): [string, number] => [k, us / 1000];
  return {
    process: top(services, 1)[0]?.[0] ?? name,
    busyMs: busyUs / 1000,
    byPackage: top(byPackage, count).map(toMs),
    byFunction: top(byFunction, count).map(toMs),
  };
}

function profilesIn(paths: string[]): string[] {
  return paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => f.endsWith('.cpuprofile'))
          .map((f) => join(p, f))
      : [p],
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const count = Number(args.find((a) => a.startsWith('top='))?.slice(4) ?? 15);
  const usage = 'usage: node --import tsx bench/profile.ts <profile or folder>... [top=15]\n';
  if (args.includes('--help')) {
    process.stdout.write(usage);
    process.exit(0);
  }
  const files = profilesIn(args.filter((a) => !a.startsWith('top=')));
  if (files.length === 0) {
    process.stderr.write(usage);
    process.exit(2);
  }
  const line = (ms: number, busy: number, what: string) =>
    `  ${ms.toFixed(0).padStart(7)} ms ${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${what}`;
  for (const file of files) {
    const s = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, file, count);
    const out = [`${s.process}: ${s.busyMs.toFixed(0)} ms busy (${file})`, ' by package or file:'];
    for (const [k, ms] of s.byPackage) out.push(line(ms, s.busyMs, k));
    out.push(' by function (self time):');
    for (const [k, ms] of s.byFunction) out.push(line(ms, s.busyMs, k));
    process.stdout.write(`${out.join('\n')}\n\n`);
  }
}
