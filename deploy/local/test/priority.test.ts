import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { openNamespace, s3ClientFor, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import {
  allButFirstCpu,
  DEFAULT_PRIORITY,
  haveChrt,
  mediaProcessingDefaults,
  SERVICES,
} from '../src/index.ts';
import { LOCAL_S3, startLocalS3 } from '../src/s3.ts';
import { startScriptArgs } from '../src/service-process.ts';
import { openTestStack } from './stack-fixture.ts';

let ns: TestNamespace;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
});
test.after.always(async () => {
  await ns?.close();
  await stopTestInfra();
});

/** Linux's scheduling policies as /proc reports them (field 41 of stat). */
const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

/** The nice value (field 19) and scheduling policy (field 41) of every thread of a process. */
function threadPriorities(pid: number): { niceness: number; policy: number }[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: the fields after it start past its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { niceness: Number(fields[16]), policy: Number(fields[38]) };
  });
}

/** The CPUs a process may run on, as Linux lists them (`0-1`, `1`). */
function allowedCpus(pid: number): string {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? '';
}

test('media-processing runs two more images than the CPUs it is confined to, libuv pool above that', (t) => {
  t.deepEqual(mediaProcessingDefaults(1), { MEDIA_CONCURRENCY: '3', UV_THREADPOOL_SIZE: '5' });
  t.deepEqual(mediaProcessingDefaults(2), { MEDIA_CONCURRENCY: '3', UV_THREADPOOL_SIZE: '5' });
  t.deepEqual(mediaProcessingDefaults(8), { MEDIA_CONCURRENCY: '9', UV_THREADPOOL_SIZE: '11' });
});

test('allButFirstCpu leaves the first CPU to the read path', (t) => {
  t.is(allButFirstCpu(1), undefined);
  t.is(allButFirstCpu(2), '1');
  t.is(allButFirstCpu(8), '1-7');
  t.is(allButFirstCpu(), allButFirstCpu(availableParallelism()));
});

test('the stack runs media-processing on every CPU but the first, under SCHED_IDLE at nice 10, every thread of it, and the other services at the parent priority', async (t) => {
  if (process.platform !== 'linux') return t.pass('priorities are read from /proc (Linux)');
  const mediaCpus = allButFirstCpu();
  t.deepEqual(DEFAULT_PRIORITY['media-processing'], {
    idle: true,
    niceness: 10,
    ...(mediaCpus ? { cpus: mediaCpus } : {}),
  });
  t.true(haveChrt, 'chrt (util-linux) is installed here, so the idle policy is really tested');
  const { stack, stop } = await openTestStack(ns);
  try {
    const own = getPriority();
    for (const service of SERVICES) {
      const [replica] = stack.replicasOf(service);
      const pid = replica?.pid;
      if (!pid) return t.fail(`${service} has no pid`);
      const batch = service === 'media-processing';
      const expected = {
        niceness: batch ? Math.min(19, own + 10) : own,
        policy: batch ? SCHED_IDLE : SCHED_OTHER,
      };
      t.is(getPriority(pid), expected.niceness, `${service}'s main thread`);
      const threads = threadPriorities(pid);
      t.true(threads.length > 1, `${service} has its worker threads`);
      t.deepEqual(
        threads,
        threads.map(() => expected),
        `every thread of ${service} (libuv's pool, where sharp works, included)`,
      );
      t.is(
        allowedCpus(pid),
        batch && mediaCpus ? mediaCpus : allowedCpus(process.pid),
        `${service}'s CPUs (media-processing: every CPU but the first)`,
      );
      if (batch) {
        const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        t.true(
          environ.includes(`MEDIA_CONCURRENCY=${mediaProcessingDefaults().MEDIA_CONCURRENCY}`),
          'its images in flight',
        );
      }
      // The pid is node itself (no wrapper process), so the stack's signals reach the service, and it runs
      // as its start script (the image's CMD) says: garbage collected on its own thread.
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      t.regex(argv[0] ?? '', /node/, service);
      const scripted = startScriptArgs(service);
      t.deepEqual(
        argv.slice(-scripted.length),
        scripted,
        `${service}'s arguments end with its start script's`,
      );
      t.true(argv.includes('--single-threaded-gc'), `${service}: --single-threaded-gc`);
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

test("npm start's S3 emulator runs in its own process under SCHED_IDLE at nice 10, keeps the bucket's objects, and stops", async (t) => {
  if (process.platform !== 'linux') return t.pass('priorities are read from /proc (Linux)');
  const directory = mkdtempSync(join(tmpdir(), 'instantpost-s3-priority-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const emulator = await startLocalS3(directory, 0);
  const s3 = s3ClientFor({ endpoint: emulator.endpoint, ...LOCAL_S3 });
  try {
    t.not(emulator.pid, process.pid, 'a process of its own');
    const expected = { niceness: Math.min(19, getPriority() + 10), policy: SCHED_IDLE };
    const threads = threadPriorities(emulator.pid);
    t.deepEqual(
      threads,
      threads.map(() => expected),
      'every thread of it',
    );
    await s3.send(new PutObjectCommand({ Bucket: LOCAL_S3.bucket, Key: 'a/b.txt', Body: 'kept' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: LOCAL_S3.bucket, Key: 'a/b.txt' }));
    t.is(await got.Body?.transformToString(), 'kept');
  } finally {
    s3.destroy();
    await emulator.stop();
  }
  t.false(existsSync(`/proc/${emulator.pid}`), 'stopped with the stack');
  const again = await startLocalS3(directory, 0);
  const reopened = s3ClientFor({ endpoint: again.endpoint, ...LOCAL_S3 });
  try {
    const got = await reopened.send(new GetObjectCommand({ Bucket: LOCAL_S3.bucket, Key: 'a/b.txt' }));
    t.is(await got.Body?.transformToString(), 'kept', 'objects outlive a restart (the directory is kept)');
  } finally {
    reopened.destroy();
    await again.stop();
  }
});
