import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

/** A NATS server with JetStream of a test's own, so the test may restart it without touching anyone else. */
export interface PrivateNats {
  readonly url: string;
  /** The server's HTTP monitor (`/jsz`, `/healthz`) when it runs as a process here; not for a container. */
  readonly monitorUrl: string | undefined;
  /** Stops the server (SIGTERM: JetStream flushes its store) and starts it again on the same port and store. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** The server listens before JetStream has recovered its store: wait for the monitor's JetStream health. */
async function waitJetStreamReady(monitorPort: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${monitorPort}/healthz?js-enabled-only=true`)
      .then((res) => res.ok)
      .catch(() => false);
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`nats-server's JetStream was not ready within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function findNatsServer(): string | undefined {
  for (const candidate of ['nats-server', '/usr/sbin/nats-server', '/usr/bin/nats-server']) {
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  return undefined;
}

export interface PrivateNatsOptions {
  /** A nats-server config file to start with (`--config`), e.g. the users and permissions Kubernetes ships. */
  configFile?: string;
  /** Variables for the server's environment (a config's `$NAME` references resolve from it). */
  env?: Record<string, string>;
}

/** The machine's `nats-server` binary when there is one (Debian's package), else a testcontainers container. */
export async function startPrivateNats(options: PrivateNatsOptions = {}): Promise<PrivateNats> {
  const binary = findNatsServer();
  if (binary) return startProcess(binary, options);
  if (options.configFile)
    throw new Error('a nats-server config file needs the nats-server binary (apt: nats-server)');
  return startContainer();
}

async function startProcess(binary: string, options: PrivateNatsOptions): Promise<PrivateNats> {
  const port = await freePort();
  const monitorPort = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'instantpost-nats-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    const config = options.configFile ? ['--config', options.configFile] : [];
    const args = [
      ...config,
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '-m',
      String(monitorPort),
      '-js',
      '-sd',
      storeDir,
    ];
    child = spawn(binary, args, { stdio: 'ignore', env: { ...process.env, ...options.env } });
    await waitJetStreamReady(monitorPort);
  };
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    monitorUrl: `http://127.0.0.1:${monitorPort}`,
    restart: async () => {
      await stop();
      await start();
    },
    stop: async () => {
      await stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

async function startContainer(): Promise<PrivateNats> {
  const { NatsContainer } = await import('@testcontainers/nats');
  // A fixed host port, so clients find the server again after the restart.
  const port = await freePort();
  const container = await new NatsContainer('nats:2.9.24-alpine')
    .withJetStream()
    .withExposedPorts({ container: 4222, host: port })
    .start();
  const url = `nats://127.0.0.1:${port}`;
  return {
    url,
    monitorUrl: undefined,
    restart: async () => {
      await container.restart();
    },
    stop: async () => {
      await container.stop();
    },
  };
}
