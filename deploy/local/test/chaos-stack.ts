/**
 * The chaos run's stack: the five services and the gateway on Postgres, Redis and NATS servers of the run's
 * own, so restarting or stopping them disturbs no other test on the machine. S3 is the namespace's emulator.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceName } from '@instantpost/chassis';
import {
  openNamespace,
  type PrivateNats,
  type PrivatePostgres,
  type PrivateRedis,
  sleep,
  startPrivateNats,
  startPrivatePostgres,
  startPrivateRedis,
  type TestNamespace,
} from '@instantpost/testing';
import { openTestStack, type TestStack } from './stack-fixture.ts';

export interface ChaosStack {
  readonly url: string;
  readonly running: TestStack;
  readonly postgres: PrivatePostgres;
  readonly redis: PrivateRedis;
  readonly nats: PrivateNats;
  /** NATS_PREFIX of the services: streams are `<PREFIX>_<STREAM>`. */
  readonly natsPrefix: string;
  /** Replicas a fault is killing and restarting on purpose (the supervisor leaves them alone). */
  readonly restarting: Set<string>;
  close(): Promise<void>;
}

/** A fault injected while the load runs; `run` resolves once the system has its part back. */
export interface Fault {
  readonly name: string;
  run(): Promise<void>;
}

export async function openChaosStack(): Promise<ChaosStack> {
  const closers: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const step of closers.reverse()) await step().catch(() => undefined);
  };
  try {
    // The namespace gives the prefixes, the bucket and the services' keys; its two (empty) databases on the
    // machine's Postgres only satisfy testEnvironment: SHARD_MAP below points at the private server.
    const ns: TestNamespace = await openNamespace({ databases: 2 });
    // A bucket with thousands of renditions can fail to empty on s3rver; the emulator's directory goes anyway.
    closers.push(() => ns.close());
    const [postgres, redis, nats] = await Promise.all([
      startPrivatePostgres(),
      startPrivateRedis(),
      startPrivateNats(),
    ]);
    closers.push(
      () => postgres.stop(),
      () => redis.stop(),
      () => nats.stop(),
    );
    const [db0, db1] = [
      await postgres.createDatabase(`${ns.name}_0`),
      await postgres.createDatabase(`${ns.name}_1`),
    ];
    const running = await openTestStack(ns, {
      env: {
        SHARD_MAP: `0-7=${db0};8-15=${db1}`,
        REDIS_URL: redis.url,
        NATS_URL: nats.url,
        // Ten uploads a user in a few seconds is the load, not abuse; the limit has its own tests.
        UPLOAD_RATE_MAX: '100000',
        // The full run lasts longer than the default 15 minutes of an access token.
        ACCESS_TOKEN_TTL_SECONDS: '7200',
      },
    });
    closers.push(() => running.stop());
    return {
      url: running.url,
      running,
      postgres,
      redis,
      nats,
      natsPrefix: ns.nats.prefix,
      restarting: new Set(),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

const killAndRestart = (stack: ChaosStack, service: ServiceName) => ({
  name: `${service} SIGKILLed and restarted`,
  run: async () => {
    const [replica] = stack.running.stack.replicasOf(service);
    if (!replica) throw new Error(`the stack runs no ${service}`);
    stack.restarting.add(replica.name);
    try {
      await replica.kill();
      await replica.start(60_000);
    } finally {
      stack.restarting.delete(replica.name);
    }
  },
});

/** Every service killed once, NATS restarted, Postgres crashed and restarted, Redis down for 10 s. */
export function chaosFaults(stack: ChaosStack): Fault[] {
  return [
    killAndRestart(stack, 'media-processing'),
    { name: 'NATS restarted', run: () => stack.nats.restart() },
    killAndRestart(stack, 'metadata'),
    {
      name: 'Postgres crashed (SIGQUIT) and restarted',
      run: () => stack.postgres.restart({ mode: 'immediate' }),
    },
    killAndRestart(stack, 'feed'),
    { name: 'Redis stopped for 10 s', run: () => stack.redis.restart({ downMs: 10_000 }) },
    killAndRestart(stack, 'upload'),
    killAndRestart(stack, 'notification'),
  ];
}

/** One consumer's backlog as the NATS monitor reports it. */
export interface ConsumerState {
  stream: string;
  name: string;
  pending: number;
  ackPending: number;
}

interface Jsz {
  account_details?: Array<{
    stream_detail?: Array<{
      name: string;
      state: { messages: number };
      consumer_detail?: Array<{ name: string; num_pending: number; num_ack_pending: number }>;
    }>;
  }>;
}

/** Messages per stream of the run and each consumer's backlog, from the private server's `/jsz`. */
export async function streamsOf(
  stack: ChaosStack,
): Promise<{ messages: Record<string, number>; consumers: ConsumerState[] }> {
  if (!stack.nats.monitorUrl) throw new Error('the private NATS server has no monitor');
  const res = await fetch(`${stack.nats.monitorUrl}/jsz?accounts=true&streams=true&consumers=true`, {
    signal: AbortSignal.timeout(5000),
  });
  const jsz = (await res.json()) as Jsz;
  const prefix = `${stack.natsPrefix.toUpperCase()}_`;
  const messages: Record<string, number> = {};
  const consumers: ConsumerState[] = [];
  for (const account of jsz.account_details ?? []) {
    for (const stream of account.stream_detail ?? []) {
      if (!stream.name.startsWith(prefix)) continue;
      const name = stream.name.slice(prefix.length);
      messages[name] = stream.state.messages;
      for (const c of stream.consumer_detail ?? []) {
        consumers.push({ stream: name, name: c.name, pending: c.num_pending, ackPending: c.num_ack_pending });
      }
    }
  }
  return { messages, consumers };
}

/** A service process that ended without a fault killing it. */
export interface UnexpectedExit {
  replica: string;
  /** Seconds into the load (as the caller counts). */
  at: number;
  code: number | null;
  /** The error it died with, from its log. */
  reason: string;
}

/** The error a crashed Node process printed last (its log ends with the stack and `Node.js v…`). */
function crashReason(logFile: string): string {
  let lines: string[];
  try {
    lines = readFileSync(logFile, 'utf8').split('\n').slice(-40);
  } catch {
    return 'no log';
  }
  const error = lines.findLast((l) => /^\w*Error\b/.test(l));
  if (!error) return 'no error printed';
  const at = lines.slice(lines.indexOf(error) + 1).find((l) => l.trim().startsWith('at '));
  return at ? `${error} ${at.trim()}` : error;
}

/**
 * Restarts a service process that dies by itself, as Kubernetes restarts a crashed pod, and records it:
 * a crash is not a loss (the system must survive it), but the report names every one.
 */
export function supervise(stack: ChaosStack, now: () => number, log: (line: string) => void) {
  const exits: UnexpectedExit[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      for (const p of stack.running.stack.processes) {
        if (p.running || stack.restarting.has(p.name)) continue;
        const code = await p.stop();
        const exit: UnexpectedExit = {
          replica: p.name,
          at: now(),
          code,
          reason: crashReason(join(stack.running.options.workDir, `${p.service}-${p.replica}.log`)),
        };
        exits.push(exit);
        log(`  ${exit.at.toFixed(1)} s: ${p.name} exited by itself (${code}): ${exit.reason}; restarting it`);
        await p.start(60_000).catch((err: Error) => log(`  ${p.name} did not restart: ${err.message}`));
      }
      await sleep(250);
    }
  })();
  return {
    exits,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
