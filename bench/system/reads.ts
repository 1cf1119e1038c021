/**
 * The read endpoints one by one, each next to the bare Fastify route behind the same nginx, side by side in
 * one run (issue 17's first goal: each ≥ 0.5 of the bare route, p99 ≤ 20 ms at 50 connections).
 * `readEndpoints` builds the calls from the seeded graph; run.ts measures them in its reads-alone phase, and
 * this file alone starts the stack, seeds it and measures only them (no upload phases):
 *
 *   taskset -c 1 npx tsx bench/system/reads.ts      (BENCH_USERS=200 by default here)
 *
 * Env as run.ts (BENCH_USERS, BENCH_FOLLOWS, BENCH_ZIPF, BENCH_POSTS_PER_USER, BENCH_ROUNDS, BENCH_MIX) plus
 * BENCH_ENDPOINT_CONNECTIONS (50), BENCH_ENDPOINT_SECONDS (5), BENCH_ENDPOINT_WARMUP_SECONDS (2);
 * BENCH_INTERACTIVE=1 keeps the stack for commands on stdin (see below) and skips the first measurement
 * unless BENCH_MEASURE_FIRST=1; BENCH_CPU_PROF=<dir> for profiles; BENCH_ACCEPT_ENCODING=gzip sends that
 * Accept-Encoding with every request (the gateway compresses JSON > 1 KB). Interactive, e.g.:
 *
 *   tail -f cmds | BENCH_INTERACTIVE=1 BENCH_CPU_PROF=/tmp/prof taskset -c 1 npx tsx bench/system/reads.ts
 *   echo 'mix 500 10' >> cmds; echo 'restart metadata' >> cmds; echo 'profile feed mix 500 10' >> cmds
 *   echo 'profile media-processing uploads 48' >> cmds    (run.ts's uploads-alone phase, without raw sharp)
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { openNamespace, stopTestInfra } from '@instantpost/testing';
import { connect } from 'nats';
import { openTestStack } from '../../deploy/local/test/stack-fixture.ts';
import { startHelper, startS3 } from './children.ts';
import { coresSince, stackGroups } from './cpu.ts';
import { BARE_PATH, routeBareThroughGateway } from './gateway.ts';
import { HttpClient } from './http.ts';
import type { PlannedCall } from './load.ts';
import { LoadThread } from './load-thread.ts';
import { mixShares, readMix } from './mix.ts';
import { ownCpus, pinProcesses, pinTree, schedule } from './pin.ts';
import { phonePhoto, uploadsAlone, uploadsDuring } from './pipeline.ts';
import { rawRenderingOffThread } from './raw-thread.ts';
import {
  followZipf,
  openFeeds,
  prng,
  publishPosts,
  settled,
  signUpUsers,
  type User,
  uploadingAuthor,
  zipf,
} from './seed.ts';
import { type Endpoint, endpointRounds, haveWrk, requestEncoding } from './wrk.ts';

export const bareEndpoint: Endpoint = {
  name: 'bare route via nginx',
  calls: [{ kind: 'bare', method: 'GET', path: BARE_PATH, expect: 200 }],
};

/**
 * The five reads of the issue, each a rotation of `count` calls drawn like the read mix: random viewers,
 * profiles by the follows' Zipf law, seeded posts.
 */
export function readEndpoints(
  users: readonly User[],
  posts: readonly string[],
  zipfS: number,
  count = 2000,
): Endpoint[] {
  const pick = prng(11);
  const popular = zipf(users.length, zipfS, pick);
  const anyone = () => users[Math.floor(pick() * users.length)] as User;
  const profile = () => users[popular()] as User;
  const calls = (kind: string, make: () => Omit<PlannedCall, 'kind' | 'method' | 'expect'>): PlannedCall[] =>
    Array.from({ length: count }, () => ({ kind, method: 'GET', expect: 200, ...make() }));
  return [
    {
      name: 'GET /v1/posts/:id',
      calls: calls('post', () => ({
        path: `/v1/posts/${posts[Math.floor(pick() * posts.length)]}`,
        token: anyone().token,
      })),
    },
    { name: 'GET /v1/feed', calls: calls('feed', () => ({ path: '/v1/feed', token: anyone().token })) },
    {
      name: 'GET /v1/users/:id/posts',
      calls: calls('grid', () => ({ path: `/v1/users/${profile().id}/posts`, token: anyone().token })),
    },
    {
      name: 'GET /v1/users/:username',
      calls: calls('profile', () => ({ path: `/v1/users/${profile().username}`, token: anyone().token })),
    },
    {
      name: 'GET /v1/notifications',
      calls: calls('notifications', () => ({ path: '/v1/notifications', token: profile().token })),
    },
  ];
}

async function main() {
  const env = process.env;
  const USERS = Number(env.BENCH_USERS ?? 200);
  const FOLLOWS = Number(env.BENCH_FOLLOWS ?? 8);
  const ZIPF_S = Number(env.BENCH_ZIPF ?? 1.0);
  const POSTS_PER_USER = Number(env.BENCH_POSTS_PER_USER ?? 2);
  const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
  const CONNECTIONS = Number(env.BENCH_ENDPOINT_CONNECTIONS ?? 50);
  const SECONDS = Number(env.BENCH_ENDPOINT_SECONDS ?? 5);
  const WARMUP = Number(env.BENCH_ENDPOINT_WARMUP_SECONDS ?? 2);
  requestEncoding.value = env.BENCH_ACCEPT_ENCODING || undefined;
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const began = performance.now();
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  log(`reads: load generator on CPU ${ownCpus()}, ${haveWrk ? 'wrk' : 'Node closed loop (no wrk)'}`);
  try {
    const s3 = await startS3();
    cleanups.push(() => s3.stop());
    env.TEST_S3_ENDPOINT = `http://127.0.0.1:${s3.port}`;
    const bare = await startHelper('./bare.ts');
    cleanups.push(
      () => bare.stop(),
      () => stopTestInfra(),
    );
    const ns = await openNamespace({ databases: 2 });
    cleanups.push(() => ns.close().catch(() => undefined));
    // A service that takes over 30 s to answer /readyz on a busy machine fails the start: try again.
    let running: Awaited<ReturnType<typeof openTestStack>> | undefined;
    for (let attempt = 1; !running; attempt++) {
      try {
        running = await openTestStack(ns, {
          // media-processing keeps the stack's images in flight, as in run.ts (the `uploads` command).
          env: { UPLOAD_RATE_MAX: '100000' },
          postgresSocket: true,
        });
      } catch (err) {
        if (attempt === 3) throw err;
        log(`the stack did not start (${(err as Error).message.split('\n')[0]}); again`);
      }
    }
    cleanups.push(() => running.stop());
    const nc = await connect({ servers: ns.nats.servers, name: 'bench-reads' });
    cleanups.push(() => nc.close());
    const jsm = await nc.jetstreamManager();
    const api = new HttpClient(running.url);
    cleanups.push(() => api.close());
    pinTree('0-1');
    const users = await signUpUsers(api, USERS, 32, running.options.env.JWT_PRIVATE_KEY as string);
    await followZipf(api, users, FOLLOWS, ZIPF_S, 32, prng(42));
    await openFeeds(api, users, 32);
    const posts = await publishPosts(nc, ns.nats.prefix, users, POSTS_PER_USER);
    await settled(jsm, ns.nats.prefix);
    await routeBareThroughGateway(running.stack.gateway.configFile, running.url, bare.port);
    log(`gateway config: ${running.stack.gateway.configFile}`);
    log(
      `seeded ${USERS} users, ${posts.length} posts in ${((performance.now() - began) / 1000).toFixed(0)} s; ${pinTree('0')} processes on CPU 0`,
    );
    const endpoints = readEndpoints(users, posts, ZIPF_S);
    const measure = async (only?: string) => {
      const chosen = only ? endpoints.filter((e) => e.calls[0]?.kind === only) : endpoints;
      const figures = await endpointRounds(
        running.url,
        api,
        bareEndpoint,
        chosen,
        {
          rounds: ROUNDS,
          connections: CONNECTIONS,
          seconds: SECONDS,
          warmupSeconds: WARMUP,
          // An nginx worker was found on both CPUs after the bare route's reload (the baseline then ran
          // ~2× faster, spilling onto the load generator's CPU): everything back on CPU 0 each round.
          beforeRound: () => pinTree('0'),
          cpuOfRun: () => coresSince(cpuGroups),
        },
        log,
      );
      log(
        `\n${CONNECTIONS} connections, ${ROUNDS} rounds of ${SECONDS} s (median ratio to the bare route of the same round):`,
      );
      for (const f of figures)
        log(
          `  ${f.name.padEnd(24)} ${f.throughput.toFixed(0).padStart(6)} req/s  p99 ${f.p99.toFixed(1).padStart(6)} ms  ratio ${f.ratio.toFixed(2)}  (bare ${f.bareThroughput.toFixed(0)} req/s, p99 ${f.bareP99.toFixed(1)} ms)${f.failed ? `  ${f.failed} failed` : ''}`,
        );
    };
    /**
     * n posts by the second most followed user as media.processed events — the publishing side of uploads
     * (post creation, fan-out, caches) without the images — timed until every consumer has drained.
     */
    const publish = async (count: number) => {
      const author = users[1] as User;
      const t = performance.now();
      await publishPosts(nc, ns.nats.prefix, Array<User>(count).fill(author), 1);
      await settled(jsm, ns.nats.prefix);
      log(
        `published ${count} posts of a user with ${author.followers} followers, drained in ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
    };
    const reader = new LoadThread(running.url);
    cleanups.push(() => reader.close());
    const mix = readMix(users, posts, ZIPF_S, mixShares(env.BENCH_MIX), prng(7));
    /** The read mix of bench/system at `rate` req/s, open loop, with the CPU each process used meanwhile. */
    const mixRun = async (rate: number, seconds: number) => {
      const cores = coresSince(cpuGroups);
      const r = await reader.openLoop(rate, seconds, mix);
      log(
        `mix at ${rate} req/s for ${seconds} s: ${r.ok}/${r.sent} ok, p50 ${r.p50.toFixed(1)} ms p99 ${r.p99.toFixed(1)} ms; generator's event-loop delay p99 ${r.generatorDelay.p99.toFixed(1)} ms`,
      );
      for (const [kind, k] of Object.entries(r.byKind))
        log(
          `  ${kind.padEnd(14)} ${String(k.count).padStart(6)}  p50 ${k.p50.toFixed(1)} ms  p99 ${k.p99.toFixed(1)} ms`,
        );
      for (const failure of r.failures) log(`  failed: ${failure}`);
      log(`  cores used: ${cores()}`);
    };
    /**
     * run.ts's uploads-alone phase: `count` phone photos, `inFlight` at a time, from a second client address,
     * by the second most followed user, media-processing on CPU 1 at normal priority and nice 0 meanwhile.
     */
    const uploader = new HttpClient(running.url, 64, '127.0.0.2');
    cleanups.push(() => uploader.close());
    /** media-processing's processes to CPU 1 at `policy` (as run.ts's upload phases put them). */
    const mediaOnCpu1 = (policy: '--other' | '--idle') => {
      const media = running.stack
        .replicasOf('media-processing')
        .flatMap(({ pid }) => (pid === undefined ? [] : [String(pid)]));
      pinProcesses(media, '1');
      schedule(media, policy);
    };
    const uploads = async (count: number, inFlight: number) => {
      const { author, follower } = uploadingAuthor(users);
      mediaOnCpu1('--other');
      const {
        result: r,
        mediaCpuMsPerPhoto,
        cores,
      } = await uploadsAlone(cpuGroups, uploader, author, follower, await phonePhoto(), count, inFlight);
      log(
        `uploads: ${r.photos} photos, ${r.publishedPerSecond.toFixed(2)} photos/s published (${(r.photos / r.seconds).toFixed(2)} first upload to last published); upload→published p50 ${r.uploadToPublished.p50.toFixed(0)} ms p99 ${r.uploadToPublished.p99.toFixed(0)} ms; media-processing's CPU per photo ${mediaCpuMsPerPhoto.toFixed(0)} ms`,
      );
      log(`  cores used: ${cores}`);
    };
    /**
     * run.ts's both-at-once phase: the read mix at `rate` req/s for `seconds` while phone photos upload flat
     * out, `inFlight` at a time, media-processing on CPU 1 at SCHED_IDLE and nice 10 (as the stack runs it).
     */
    const both = async (rate: number, seconds: number, inFlight: number) => {
      const { author, follower } = uploadingAuthor(users);
      mediaOnCpu1('--idle');
      const { uploads: r } = await uploadsDuring(
        () => mixRun(rate, seconds),
        uploader,
        author,
        follower,
        await phonePhoto(),
        inFlight,
      );
      log(`  beside the reads: ${r.photos} photos, ${r.publishedPerSecond.toFixed(2)} photos/s published`);
    };
    const cpuGroups = stackGroups(running.stack.processes, {
      's3 emulator': [s3.pid],
      'load generator': [process.pid],
    });
    if (!env.BENCH_INTERACTIVE || env.BENCH_MEASURE_FIRST) await measure();
    // Development: the seeded stack stays up; stdin lines `restart <service>...` (new code, a fresh CPU
    // profile with BENCH_CPU_PROF), `measure [kind]`, `publish <n>`, `mix [rate] [seconds]`,
    // `uploads [photos] [in flight]`, `both [rate] [seconds] [in flight]`, `raw [photos]` (raw sharp on a thread of its own), `nodeargs <flags>`, `profile <service> <kind | publish n | mix rate seconds | uploads n>`,
    // `encoding <gzip|off>`, `reload`, `quit`.
    if (env.BENCH_INTERACTIVE) {
      for await (const line of createInterface({ input: process.stdin })) {
        const [command, ...args] = line.trim().split(/\s+/);
        try {
          if (command === 'quit') break;
          if (command === 'restart') {
            for (const p of running.stack.processes.filter((p) => args.includes(p.service))) {
              await p.stop();
              await p.start(120_000);
            }
            log(`restarted ${args.join(' ')}; ${pinTree('0')} processes on CPU 0`);
          }
          if (command === 'measure') await measure(args[0]);
          if (command === 'publish') await publish(Number(args[0] ?? 50));
          if (command === 'mix') await mixRun(Number(args[0] ?? 500), Number(args[1] ?? 10));
          if (command === 'uploads') await uploads(Number(args[0] ?? 48), Number(args[1] ?? 8));
          if (command === 'both')
            await both(Number(args[0] ?? 500), Number(args[1] ?? 10), Number(args[2] ?? 8));
          if (command === 'memory') {
            const m = process.memoryUsage();
            const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
            log(
              `generator memory: rss ${mb(m.rss)}, heap ${mb(m.heapUsed)} of ${mb(m.heapTotal)}, external ${mb(m.external)}, array buffers ${mb(m.arrayBuffers)}`,
            );
          }
          if (command === 'raw') {
            const r = await rawRenderingOffThread(await phonePhoto(), Number(args[0] ?? 24));
            log(
              `raw sharp, same renditions: ${r.perSecond.toFixed(2)} photos/s, p50 ${r.p50.toFixed(0)} ms; CPU per photo ${r.cpuMsPerPhoto.toFixed(0)} ms`,
            );
          }
          if (command === 'nodeargs') {
            // Node flags of services started from now on (`restart <service>` to apply), e.g. GC settings.
            const flags = args.join(' ');
            process.env.SERVICE_NODE_ARGS = flags;
            log(`services start with: ${flags}`);
          }
          if (command === 'encoding') {
            // `encoding gzip` sends Accept-Encoding: gzip with every request from now on, `encoding off` none.
            requestEncoding.value = args[0] === 'off' ? undefined : args[0];
            log(`Accept-Encoding: ${requestEncoding.value ?? '(none)'}`);
          }
          if (command === 'reload') {
            // After an edit of the gateway's config (its path is logged at start): workers restart with it.
            process.kill(
              Number(readFileSync(join(dirname(running.stack.gateway.configFile), 'nginx.pid'), 'utf8')),
              'SIGHUP',
            );
            await new Promise((resolve) => setTimeout(resolve, 1000));
            log(`gateway reloaded; ${pinTree('0')} processes on CPU 0`);
          }
          if (command === 'profile') {
            const [service, kind] = args;
            const target = running.stack.processes.find((p) => p.service === service);
            if (!kind || (service !== 'generator' && !target?.pid))
              throw new Error('profile <service | generator> <kind>');
            const work =
              kind === 'publish'
                ? () => publish(Number(args[2] ?? 50))
                : kind === 'mix'
                  ? () => mixRun(Number(args[2] ?? 500), Number(args[3] ?? 10))
                  : kind === 'uploads'
                    ? () => uploads(Number(args[2] ?? 48), Number(args[3] ?? 8))
                    : () => measure(kind);
            const file = target?.pid
              ? await profiled(target.pid, work, env.BENCH_CPU_PROF)
              : await selfProfiled(work, env.BENCH_CPU_PROF);
            log(`profile of ${service} written to ${file}`);
          }
        } catch (err) {
          log(`${line}: ${(err as Error).message}`);
        }
      }
      process.stdin.destroy(); // `quit` with a writer still on stdin (tail -f) would keep this process alive
    }
  } finally {
    for (const step of cleanups.reverse()) {
      try {
        await step();
      } catch (err) {
        log(`cleanup: ${(err as Error).message}`);
      }
    }
  }
}

/**
 * A CPU profile of a running process while `work` runs: SIGUSR1 opens its inspector (127.0.0.1:9229),
 * the DevTools protocol starts and stops the profiler; written as <pid>.cpuprofile under BENCH_CPU_PROF.
 */
async function profiled(pid: number, work: () => Promise<void>, cpuProfileDir?: string): Promise<string> {
  process.kill(pid, 'SIGUSR1');
  let targets: { webSocketDebuggerUrl: string }[] = [];
  for (let i = 0; i < 50 && targets.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    targets = (await fetch('http://127.0.0.1:9229/json/list')
      .then((r) => r.json())
      .catch(() => [])) as typeof targets;
  }
  const ws = new WebSocket((targets[0] as { webSocketDebuggerUrl: string }).webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  const pending = new Map<number, (result: unknown) => void>();
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data)) as { id?: number; result?: unknown };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
  };
  const call = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 200 });
  await call('Profiler.start');
  await work();
  const { profile } = (await call('Profiler.stop')) as { profile: unknown };
  // Closes the inspector (no answer comes back: the connection ends with it).
  void call('Runtime.evaluate', { expression: 'process._debugEnd()' });
  await new Promise((resolve) => setTimeout(resolve, 200));
  ws.close();
  const dir = cpuProfileDir ?? tmpdir();
  const file = join(dir, `${pid}-${Date.now()}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  return file;
}

/** A CPU profile of this process (the load generator) while `work` runs. */
async function selfProfiled(work: () => Promise<void>, cpuProfileDir?: string): Promise<string> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  await work();
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  const file = join(cpuProfileDir ?? tmpdir(), `generator-${Date.now()}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  return file;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
