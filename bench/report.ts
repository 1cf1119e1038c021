/**
 * The one shape every benchmark reports in: a figure next to its raw baseline measured in the same run.
 * Each `bench/<name>/run.ts` prints its own details and ends with `reportFigures`, which prints the table
 * and, when the suite runs it (`BENCH_REPORT` set), writes the figures for `bench/run.ts` to collect.
 */
import { writeFileSync } from 'node:fs';

export interface BenchFigure {
  /** What was measured, e.g. "fan-out, 10,000 followers". */
  figure: string;
  value: number;
  /** e.g. "timelines/s", "ms p99". */
  unit: string;
  /** What the baseline is, e.g. "raw pipelined ZADD". */
  baseline: string;
  baselineValue: number;
  /** value / baseline for rates, baseline / value for latencies: above 1 is better than the baseline. */
  ratio: number;
}

export interface BenchReport {
  bench: string;
  date: string;
  node: string;
  command: string;
  figures: BenchFigure[];
  /** Printed under the table in BENCHMARKS.md (e.g. outside anchors next to the figures). */
  notes?: string;
}

/** A figure as printed; one that was not measured (NaN, or null once through JSON) as `n/a`, not a crash. */
const format = (n: number | null) =>
  n === null || !Number.isFinite(n)
    ? 'n/a'
    : Math.abs(n) >= 100
      ? Math.round(n).toLocaleString('en-US')
      : // trailing zeros of the fraction only: 99.96 gives "100", which must stay 100
        n
          .toPrecision(3)
          .replace(/(\.\d*?)0+$/, '$1')
          .replace(/\.$/, '');

export function renderFigures(figures: readonly BenchFigure[]): string {
  const rows = figures.map(
    (f) =>
      `| ${f.figure} | ${format(f.value)} ${f.unit} | ${f.baseline}: ${format(f.baselineValue)} ${f.unit} | ${f.ratio === null || !Number.isFinite(f.ratio) ? 'n/a' : f.ratio.toFixed(2)} |`,
  );
  return ['| figure | value | baseline | ratio |', '|---|---:|---:|---:|', ...rows].join('\n');
}

/** Prints the figures as a table and hands them to the suite runner when it asked for them. */
export function reportFigures(
  bench: string,
  command: string,
  figures: BenchFigure[],
  notes?: string,
): BenchReport {
  const report: BenchReport = {
    bench,
    date: new Date().toISOString(),
    node: process.version,
    command,
    figures,
    ...(notes ? { notes } : {}),
  };
  process.stdout.write(`\n${bench}\n${renderFigures(figures)}\n${notes ? `\n${notes}\n` : ''}`);
  const target = process.env.BENCH_REPORT;
  if (target) writeFileSync(target, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

/** Ratio for a rate (more is better). */
export const rateRatio = (value: number, baseline: number) => value / baseline;
/** Ratio for a latency (less is better): above 1 means faster than the baseline. */
export const latencyRatio = (value: number, baseline: number) => baseline / value;
