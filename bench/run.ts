/**
 * `npm run bench`: every benchmark of bench/<name>/run.ts, one after the other, each pinned to CPU 1
 * with `taskset -c 1` while the servers it loads (Postgres, Redis, NATS) are moved to CPU 0 with
 * `taskset -a -p -c 0 <pid>` for the run, so load generator and server never fight over one core.
 * The servers get every CPU back at the end. Writes bench/results/<date>.json and BENCHMARKS.md: the sections
 * of the benchmarks that ran now anew (keeping what their old sections held below a `<!-- kept -->` line),
 * every other section as the file had it (benchmarks-md.ts).
 *
 *   npm run bench                 # all of them
 *   npm run bench -- ids feed     # some of them
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mergeSections, sectionsOf } from './benchmarks-md.ts';
import { type BenchReport, renderFigures } from './report.ts';
import { haveTaskset, pinServers } from './system/pin.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ORDER = [
  'ids',
  'bus',
  'metadata',
  'upload',
  'media-processing',
  'feed',
  'notification',
  'interactions',
  'system',
  'web',
  'shards',
];
const wanted = process.argv.slice(2);
const benches = ORDER.filter((name) => existsSync(join(ROOT, 'bench', name, 'run.ts'))).filter(
  (name) => wanted.length === 0 || wanted.includes(name),
);
const scratch = mkdtempSync(join(tmpdir(), 'instantpost-bench-'));
const reports: BenchReport[] = [];
const failed: string[] = [];
// Every thread of the servers to CPU 0, when taskset exists and may move them.
const pinned = haveTaskset && pinServers('0').moved > 0;
try {
  for (const name of benches) {
    const reportFile = join(scratch, `${name}.json`);
    const node = [process.execPath, '--import', 'tsx', join('bench', name, 'run.ts')];
    const [command, ...args] = pinned ? ['taskset', '-c', '1', ...node] : node;
    process.stdout.write(`\n=== bench/${name} ${pinned ? '(pinned to CPU 1, servers on CPU 0)' : ''}\n`);
    const run = spawnSync(command as string, args, {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, BENCH_REPORT: reportFile },
    });
    if (run.status === 0 && existsSync(reportFile)) {
      reports.push(JSON.parse(readFileSync(reportFile, 'utf8')) as BenchReport);
    } else {
      failed.push(name);
    }
  }
} finally {
  if (pinned) pinServers(`0-${Math.max(0, availableParallelism() - 1)}`);
  rmSync(scratch, { recursive: true, force: true });
}

const date = new Date().toISOString();
const resultsDir = join(ROOT, 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
writeFileSync(
  join(resultsDir, `${date.slice(0, 19).replace(/:/g, '-')}.json`),
  `${JSON.stringify({ date, pinned, reports }, null, 2)}\n`,
);

// BENCHMARKS.md shows the newest run of every benchmark, so running a few of them keeps the others' rows.
interface RunFile {
  date: string;
  pinned: boolean;
  reports: BenchReport[];
}
const newest = new Map<string, { report: BenchReport; pinned: boolean }>();
for (const file of readdirSync(resultsDir)
  .filter((f) => f.endsWith('.json'))
  .sort()) {
  const run = JSON.parse(readFileSync(join(resultsDir, file), 'utf8')) as RunFile;
  for (const report of run.reports) newest.set(report.bench, { report, pinned: run.pinned });
}
const generated = new Map(
  [...newest.values()].map(({ report, pinned: wasPinned }) => [
    report.bench,
    `## ${report.bench}\n\n\`${report.command}\` — ${report.date.slice(0, 16).replace('T', ' ')} UTC, ${wasPinned ? 'pinned' : 'not pinned'}\n\n${renderFigures(report.figures)}\n${report.notes ? `\n${report.notes}\n` : ''}`,
  ]),
);
const benchmarksFile = join(ROOT, 'BENCHMARKS.md');
const sections = mergeSections(
  ORDER,
  existsSync(benchmarksFile) ? sectionsOf(readFileSync(benchmarksFile, 'utf8')) : new Map(),
  generated,
  new Set(reports.map((r) => r.bench)),
).map((section) => `${section}\n`);
writeFileSync(
  benchmarksFile,
  [
    '# Benchmarks',
    '',
    `The newest run of each benchmark on this repository's machine (${process.version}), by \`npm run bench\`;`,
    'every run is kept in bench/results/<date>.json for comparison.',
    'Pinned: the benchmark ran on CPU 1 (`taskset -c 1`) with Postgres, Redis and NATS moved to CPU 0',
    '(`taskset -a -p -c 0`); bench/system also moves the processes it starts to CPU 0.',
    'A ratio above 1 is better than the raw baseline measured in the same run (rate / baseline, or baseline latency / latency).',
    'A section whose benchmark did not run stays as written; in one that ran, text below a `<!-- kept -->` line survives.',
    '',
    ...sections,
    failed.length ? `Failed to run this time: ${failed.join(', ')}.` : '',
  ].join('\n'),
);
process.stdout.write(
  `\nwrote BENCHMARKS.md (${reports.length} benchmarks${failed.length ? `, failed: ${failed.join(', ')}` : ''})\n`,
);
process.exitCode = failed.length ? 1 : 0;
