/**
 * The chaos scenario at CI size (chaos-scenario.ts): 10 users, 60 photo uploads, follows, likes and
 * comments while every service is SIGKILLed once, NATS and Postgres restart and Redis is down for 10 s.
 * Everything runs on servers of the test's own, so the faults disturb no other test. `npm run chaos` runs
 * the same scenario at full size.
 */
import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import { CI_SIZE, runChaos } from './chaos-scenario.ts';

test.after.always(() => stopTestInfra());

test('under crashes and restarts of everything, every acknowledged operation lands exactly once', async (t) => {
  // Stack start-up, the faults one after the other (the Redis outage alone is 10 s) and convergence.
  t.timeout(240_000);
  const report = await runChaos(CI_SIZE, { log: (line) => t.log(line), convergeTimeoutMs: 90_000 });
  t.log(JSON.stringify({ acked: report.acked, errors: report.errorsByFault, faults: report.faults }));
  // A process that dies by itself is restarted (as Kubernetes would) and named, not hidden.
  for (const exit of report.unexpectedExits) t.log(`unexpected exit: ${JSON.stringify(exit)}`);

  t.deepEqual(report.problems, [], 'nothing lost, duplicated or dead-lettered');
  t.deepEqual(
    report.faults.map((f) => f.name),
    [
      'media-processing SIGKILLed and restarted',
      'NATS restarted',
      'metadata SIGKILLed and restarted',
      'Postgres crashed (SIGQUIT) and restarted',
      'feed SIGKILLed and restarted',
      'Redis stopped for 10 s',
      'upload SIGKILLed and restarted',
      'notification SIGKILLed and restarted',
    ],
  );
  for (const check of report.checks) t.is(check.found, check.expected, check.what);
  // The load really ran: most of each kind was acknowledged despite the faults.
  for (const kind of ['upload', 'like', 'comment'] as const)
    t.true(
      report.acked[kind] > report.planned[kind] / 2,
      `${kind}: ${report.acked[kind]}/${report.planned[kind]}`,
    );
});
