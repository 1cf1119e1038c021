import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { DEFAULT_NICENESS, SERVICES } from '../src/index.ts';
import { openTestStack } from './stack-fixture.ts';

let ns: TestNamespace;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
});
test.after.always(async () => {
  await ns?.close();
  await stopTestInfra();
});

/** The nice value of every thread of a process (field 19 of /proc/<pid>/task/<tid>/stat). */
function threadNiceness(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: the fields after it start past its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[16]);
  });
}

test('the stack runs media-processing at nice 10, every thread of it, and the other services at the parent priority', async (t) => {
  if (process.platform !== 'linux') return t.pass('nice values are read from /proc (Linux)');
  t.is(DEFAULT_NICENESS['media-processing'], 10);
  const { stack, stop } = await openTestStack(ns);
  try {
    const own = getPriority();
    for (const service of SERVICES) {
      const [replica] = stack.replicasOf(service);
      const pid = replica?.pid;
      if (!pid) return t.fail(`${service} has no pid`);
      const expected = service === 'media-processing' ? Math.min(19, own + 10) : own;
      t.is(getPriority(pid), expected, `${service}'s main thread`);
      const threads = threadNiceness(pid);
      t.true(threads.length > 1, `${service} has its worker threads`);
      t.deepEqual(
        threads,
        threads.map(() => expected),
        `every thread of ${service} (libuv's pool, where sharp works, included)`,
      );
      // The pid is node itself (nice execs it), so the stack's signals reach the service.
      t.regex(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /node/, service);
    }
  } finally {
    const codes = await stop();
    t.deepEqual(
      Object.values(codes),
      SERVICES.map(() => 0),
      `every service exits 0 on SIGTERM: ${JSON.stringify(codes)}`,
    );
  }
});
