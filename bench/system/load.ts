/**
 * Open-loop load at a constant rate, as wrk2 does: request i is due at start + i / rate whether or not
 * earlier ones have answered, and its latency is measured from that due time, so a stalled server shows up
 * in the percentiles instead of silently slowing the generator (no coordinated omission).
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { percentile } from '../stats.ts';
import type { Call, HttpClient } from './http.ts';

export interface OpenLoopResult {
  /** Requests answered with the expected status per second of the run (first due time to last answer). */
  throughput: number;
  sent: number;
  ok: number;
  failed: number;
  p50: number;
  p99: number;
  p999: number;
  /** Latency percentiles per request kind (ms). */
  byKind: Record<string, { count: number; p50: number; p99: number }>;
  /** A few distinct failures (status and body start), for the log. */
  failures: string[];
  /**
   * This generator's own event-loop delay during the run (ms): a stalled generator sends late and in bursts,
   * and the open loop counts its lateness as latency of every kind, so a high figure here makes the
   * latencies say more about the generator than about the stack.
   */
  generatorDelay: { p99: number; max: number };
  /** The raw samples, so rounds can be pooled (`pooled`). */
  samples: { seconds: number; latencies: number[]; kinds: Map<string, number[]> };
}

export interface PlannedCall extends Call {
  kind: string;
  /** The status that counts as success. */
  expect: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function openLoop(
  client: HttpClient,
  rate: number,
  seconds: number,
  next: (i: number) => PlannedCall,
): Promise<OpenLoopResult> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const latencies: number[] = [];
  const kinds = new Map<string, number[]>();
  const failures = new Set<string>();
  let ok = 0;
  let failed = 0;
  let lastAnswer = 0;
  const inFlight: Promise<void>[] = [];
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const start = performance.now();
  const fire = async (call: PlannedCall, due: number) => {
    try {
      const reply = await client.send(call, call.expect);
      if (reply.status === call.expect) ok++;
      else {
        failed++;
        if (failures.size < 5) failures.add(`${call.kind} ${reply.status} ${reply.text.slice(0, 160)}`);
      }
    } catch (err) {
      failed++;
      if (failures.size < 5) failures.add(`${call.kind} ${(err as Error).message}`);
    }
    const now = performance.now();
    lastAnswer = now;
    const ms = now - due;
    latencies.push(ms);
    let list = kinds.get(call.kind);
    if (!list) {
      list = [];
      kinds.set(call.kind, list);
    }
    list.push(ms);
  };
  let i = 0;
  while (i < total) {
    const now = performance.now();
    while (i < total && start + i * interval <= now) {
      inFlight.push(fire(next(i), start + i * interval));
      i++;
    }
    if (i < total) await sleep(Math.max(0, Math.min(5, start + i * interval - performance.now())));
  }
  await Promise.all(inFlight);
  delay.disable();
  return summarize(
    ok,
    failed,
    total,
    [...failures],
    { seconds: (lastAnswer - start) / 1000, latencies, kinds },
    { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 },
  );
}

function summarize(
  ok: number,
  failed: number,
  sent: number,
  failures: string[],
  samples: OpenLoopResult['samples'],
  generatorDelay: OpenLoopResult['generatorDelay'],
): OpenLoopResult {
  const byKind: OpenLoopResult['byKind'] = {};
  for (const [kind, list] of samples.kinds) {
    byKind[kind] = { count: list.length, p50: percentile(list, 50), p99: percentile(list, 99) };
  }
  return {
    throughput: ok / samples.seconds,
    sent,
    ok,
    failed,
    p50: percentile(samples.latencies, 50),
    p99: percentile(samples.latencies, 99),
    p999: percentile(samples.latencies, 99.9),
    byKind,
    failures,
    samples,
    generatorDelay,
  };
}

/** Several runs as one: every latency sample together, throughput over their summed durations. */
export function pooled(runs: readonly OpenLoopResult[]): OpenLoopResult {
  const kinds = new Map<string, number[]>();
  for (const run of runs)
    for (const [kind, list] of run.samples.kinds) kinds.set(kind, [...(kinds.get(kind) ?? []), ...list]);
  const sum = (f: (r: OpenLoopResult) => number) => runs.reduce((acc, r) => acc + f(r), 0);
  return summarize(
    sum((r) => r.ok),
    sum((r) => r.failed),
    sum((r) => r.sent),
    runs.flatMap((r) => r.failures).slice(0, 5),
    { seconds: sum((r) => r.samples.seconds), latencies: runs.flatMap((r) => r.samples.latencies), kinds },
    {
      p99: Math.max(...runs.map((r) => r.generatorDelay.p99)),
      max: Math.max(...runs.map((r) => r.generatorDelay.max)),
    },
  );
}

/**
 * Capacity: `connections` callers each sending the next request as soon as the last answered, for
 * `seconds` — the most the target serves (closed loop, so its latencies are not reported).
 */
export async function closedLoop(
  client: HttpClient,
  connections: number,
  seconds: number,
  next: (i: number) => PlannedCall,
): Promise<{ throughput: number; ok: number; failed: number }> {
  let i = 0;
  let ok = 0;
  let failed = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const call = next(i++);
        try {
          const reply = await client.send(call, call.expect);
          if (reply.status === call.expect) ok++;
          else failed++;
        } catch {
          failed++;
        }
      }
    }),
  );
  return { throughput: ok / ((performance.now() - start) / 1000), ok, failed };
}
