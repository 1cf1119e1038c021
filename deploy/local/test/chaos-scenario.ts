/**
 * The chaos scenario, once, parameterised by size: used by the CI test (chaos.test.ts, small) and by
 * `npm run chaos` (bench/chaos/run.ts, 100 users and 1,000 uploads), which writes RELIABILITY.md.
 *
 * Users sign up and follow each other; then they upload small photos, follow, like, comment and read their
 * feeds through the gateway while, one after the other, every service is SIGKILLed and restarted, NATS is
 * restarted, Postgres crashes and restarts and Redis is stopped for 10 s. Clients retry what a mobile app
 * retries. Once the system has converged, its state is read through the API and compared with what the
 * clients were told.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { waitFor } from '@instantpost/testing';
import { type Check, EndState, type Verdict } from './chaos-check.ts';
import { ChaosLoad, type ChaosSize, type FaultRecord, OP_KINDS, type OpKind } from './chaos-load.ts';
import { chaosFaults, openChaosStack, streamsOf, supervise, type UnexpectedExit } from './chaos-stack.ts';

export type { ChaosSize } from './chaos-load.ts';

export const CI_SIZE: ChaosSize = {
  users: 10,
  uploads: 60,
  followsPerUser: 4,
  likes: 120,
  comments: 40,
  feedReads: 40,
  concurrency: 8,
};

export const FULL_SIZE: ChaosSize = {
  users: 100,
  uploads: 1000,
  followsPerUser: 10,
  likes: 2000,
  comments: 500,
  feedReads: 500,
  concurrency: 24,
};

export interface ChaosReport {
  size: ChaosSize;
  date: string;
  /** The machine's 1-minute load average when the load started and when the run ended (2 cores, shared). */
  machineLoad: { start: number; end: number };
  loadSeconds: number;
  planned: Record<OpKind, number>;
  acked: Record<OpKind, number>;
  /** Non-success answers the clients saw during the load, by kind, then status. */
  errors: Record<string, Record<string, number>>;
  /** The same answers by the fault in progress when they came (`no fault`: between faults), then kind and status. */
  errorsByFault: Record<string, Record<string, number>>;
  faults: FaultRecord[];
  /** Service processes that died without a fault killing them (each restarted, as Kubernetes would). */
  unexpectedExits: UnexpectedExit[];
  /** From the end of the load and the faults until the end state checked out (or the bound ran out). */
  convergeSeconds: number;
  /** 202 to `published` as the app's status poll saw it (0.5 s polls), during the load. */
  publishSeconds: { p50: number; p99: number; max: number };
  checks: Check[];
  unanswered: Verdict['unanswered'];
  deadLetters: number;
  /** Max-delivery advisories stored (each also a dead letter). */
  advisories: number;
  /** Empty when nothing was lost or duplicated. */
  problems: string[];
}

const quantile = (sorted: readonly number[], q: number) =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);

export async function runChaos(
  size: ChaosSize,
  options: { log?: (line: string) => void; convergeTimeoutMs?: number } = {},
): Promise<ChaosReport> {
  const log = options.log ?? (() => {});
  const convergeTimeoutMs = options.convergeTimeoutMs ?? 180_000;
  const began = performance.now();
  const elapsed = () => `${((performance.now() - began) / 1000).toFixed(0)} s`;
  const stack = await openChaosStack();
  let loadStart = performance.now();
  const supervisor = supervise(stack, () => (performance.now() - loadStart) / 1000, log);
  try {
    log(`stack up on private Postgres, Redis and NATS at ${stack.url} (${elapsed()})`);
    const load = new ChaosLoad(stack.url, size, log);
    await load.seed();
    log(
      `load: ${size.uploads} uploads, ${size.likes} likes, ${size.comments} comments by ${size.users} users`,
    );
    loadStart = performance.now();
    const loadAverageAtStart = loadavg()[0] ?? 0;
    const result = await load.drive(chaosFaults(stack));
    log(`load done in ${result.loadSeconds.toFixed(1)} s (${elapsed()}); waiting for the system to converge`);

    const settledAt = performance.now();
    const deadline = settledAt + convergeTimeoutMs;
    const endState = new EndState(stack.url, result.ledger);
    const problems: string[] = [];
    let lastSaid = 0;
    const say = (what: string) => {
      if (performance.now() - lastSaid < 5000) return;
      lastSaid = performance.now();
      log(`  ${((lastSaid - settledAt) / 1000).toFixed(0)} s: waiting for ${what}`);
    };
    await waitFor(
      'every accepted upload processed and every consumer drained',
      async () => {
        const { waiting, rejected } = await endState.unpublished();
        if (rejected.length) return true; // terminal: reported by the checks below
        if (waiting.length) {
          say(`${waiting.length} uploads still processing`);
          return false;
        }
        const busy = (await streamsOf(stack)).consumers.filter((c) => c.pending > 0 || c.ackPending > 0);
        if (busy.length === 0) return true;
        say(busy.map((c) => `${c.name} (${c.pending} pending, ${c.ackPending} unacked)`).join(', '));
        return false;
      },
      { timeoutMs: convergeTimeoutMs, intervalMs: 1000 },
    ).catch((err: Error) => problems.push(err.message));
    log(
      `  uploads processed, consumers drained after ${((performance.now() - settledAt) / 1000).toFixed(1)} s`,
    );
    const { rejected } = await endState.unpublished();
    for (const r of rejected) problems.push(`accepted upload ${r} did not publish`);

    // The projections may trail the consumers' acks by a moment (caches refilled on read): look again,
    // a bounded number of times, before calling anything lost.
    let verdict = await endState.verify();
    for (let i = 0; i < 10 && verdict.problems.length > 0 && performance.now() < deadline; i++) {
      log(
        `  end state not yet right (${verdict.problems.length} problems, e.g. ${verdict.problems[0]}); again`,
      );
      await new Promise((resolve) => setTimeout(resolve, 3000));
      verdict = await endState.verify();
    }
    const convergeSeconds = (performance.now() - settledAt) / 1000;
    log(`  end state read and compared (${convergeSeconds.toFixed(1)} s after the load)`);
    problems.push(...verdict.problems);

    const { messages } = await streamsOf(stack);
    const deadLetters = messages.DLQ ?? 0;
    if (deadLetters > 0) problems.push(`${deadLetters} events were dead-lettered`);
    for (const f of result.faults.filter((x) => x.error))
      problems.push(`fault "${f.name}" failed: ${f.error}`);
    const checkErrors = endState.errors.total();
    if (checkErrors > 0)
      problems.push(`${checkErrors} reads failed while checking the end state after convergence`);

    const latencies = result.ledger.uploads
      .flatMap((u) => (u.ackedAt && u.publishedAt ? [(u.publishedAt - u.ackedAt) / 1000] : []))
      .sort((a, b) => a - b);
    log(`converged in ${convergeSeconds.toFixed(1)} s; ${problems.length} problems (${elapsed()})`);
    return {
      size,
      date: new Date().toISOString(),
      machineLoad: { start: loadAverageAtStart, end: loadavg()[0] ?? 0 },
      loadSeconds: result.loadSeconds,
      planned: result.planned,
      acked: result.acked,
      errors: Object.fromEntries(
        [...result.errors.seen].map(([kind, byStatus]) => [kind, Object.fromEntries(byStatus)]),
      ),
      errorsByFault: Object.fromEntries(
        [...result.errors.byPhase].map(([phase, byStatus]) => [phase, Object.fromEntries(byStatus)]),
      ),
      faults: result.faults,
      unexpectedExits: supervisor.exits,
      convergeSeconds,
      publishSeconds: {
        p50: quantile(latencies, 0.5),
        p99: quantile(latencies, 0.99),
        max: latencies.at(-1) ?? 0,
      },
      checks: [...verdict.checks, { what: 'dead letters (DLQ)', expected: 0, found: deadLetters }],
      unanswered: verdict.unanswered,
      deadLetters,
      advisories: messages.ADVISORIES ?? 0,
      problems,
    };
  } finally {
    await supervisor.stop();
    await stack.close();
  }
}

const num = (n: number, digits = 1) => n.toFixed(digits);
const answers = (byStatus: Record<string, number>) =>
  Object.entries(byStatus)
    .map(([status, n]) => `${status} × ${n}`)
    .join(', ');

/** The report as Markdown: what RELIABILITY.md holds, with the command that produced it. */
export function renderReport(report: ChaosReport, command: string): string {
  const s = report.size;
  const lines = [
    '# Reliability',
    '',
    `\`${command}\` — ${report.date.slice(0, 16).replace('T', ' ')} UTC, Node ${process.version}, ` +
      `${s.users} users, ${s.concurrency} operations in flight; the machine (2 cores, shared with other work) ` +
      `had a load average of ${num(report.machineLoad.start)} when the load started and ` +
      `${num(report.machineLoad.end)} at the end.`,
    '',
    'The real stack (five services as processes, nginx) on Postgres, Redis and NATS servers of the run’s own. ' +
      'Users upload small photos, follow, like, comment and read feeds through the gateway while the faults ' +
      'below run one after the other; clients retry 5xx, 429, timeouts and broken connections with backoff, as ' +
      'an app would. Then the state is read through the API and compared with what the clients were told.',
    '',
    `## Load held (${num(report.loadSeconds)} s)`,
    '',
    '| operation | planned | acknowledged | acknowledged/s |',
    '|---|---:|---:|---:|',
    ...OP_KINDS.map(
      (k) =>
        `| ${k} | ${report.planned[k]} | ${report.acked[k]} | ${num(report.acked[k] / report.loadSeconds)} |`,
    ),
    '',
    `202 → \`published\` as the app's status poll saw it: p50 ${num(report.publishSeconds.p50)} s, ` +
      `p99 ${num(report.publishSeconds.p99)} s, max ${num(report.publishSeconds.max)} s.`,
    '',
    '## Errors the clients saw (then retried)',
    '',
    '| operation | answers |',
    '|---|---|',
    ...Object.entries(report.errors).map(([kind, byStatus]) => `| ${kind} | ${answers(byStatus)} |`),
    ...(Object.keys(report.errors).length === 0 ? ['| — | none |'] : []),
    '',
    'The same answers by the fault in progress when they came:',
    '',
    '| while | answers |',
    '|---|---|',
    ...Object.entries(report.errorsByFault).map(([phase, byStatus]) => `| ${phase} | ${answers(byStatus)} |`),
    '',
    '## Faults',
    '',
    '| fault | at (s into the load) | until back (s) |',
    '|---|---:|---:|',
    ...report.faults.map(
      (f) => `| ${f.name}${f.error ? ` (failed: ${f.error})` : ''} | ${num(f.at)} | ${num(f.seconds)} |`,
    ),
    '',
    ...(report.unexpectedExits.length === 0
      ? ['No service process died by itself.', '']
      : [
          'Service processes that died by themselves (each restarted at once, as Kubernetes would):',
          '',
          '| process | at (s into the load) | exit code | error |',
          '|---|---:|---:|---|',
          ...report.unexpectedExits.map(
            (e) =>
              `| ${e.replica} | ${num(e.at)} | ${e.code ?? '—'} | \`${e.reason.replace(/\|/g, '\\|')}\` |`,
          ),
          '',
        ]),
    `## Nothing lost (converged ${num(report.convergeSeconds)} s after the load and the faults ended)`,
    '',
    '| check | expected | found |',
    '|---|---:|---:|',
    ...report.checks.map((c) => `| ${c.what} | ${c.expected} | ${c.found} |`),
    '',
    'Done by a request whose client never got an answer (legitimately there, counted once): ' +
      `${report.unanswered.uploadsPublished} uploads, ${report.unanswered.followsMade} follows, ` +
      `${report.unanswered.likesMade} likes, ${report.unanswered.commentsMade} comments. ` +
      `Max-delivery advisories: ${report.advisories}.`,
    '',
    report.problems.length === 0
      ? '**Nothing lost, nothing duplicated.**'
      : `**${report.problems.length} problems:**\n\n${report.problems
          .slice(0, 50)
          .map((p) => `- ${p}`)
          .join('\n')}${report.problems.length > 50 ? '\n- …' : ''}`,
    '',
  ];
  return lines.join('\n');
}
