import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isReachable } from './infra.ts';
import { freePort } from './ports.ts';
import { sleep } from './wait.ts';

/** A Redis server of a test's own, so the test may stop it without touching anyone else. */
export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /**
   * Stops the server and starts it again on the same port after `downMs`. Nothing is persisted, so it
   * comes back empty, as a cache restarted without persistence does.
   */
  restart(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

function findRedisServer(): string {
  for (const candidate of ['redis-server', '/usr/bin/redis-server', '/usr/local/bin/redis-server']) {
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  throw new Error('no redis-server binary found (apt: redis-server)');
}

/** `redis-server` on a free port with no persistence (`--save "" --appendonly no`). */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const binary = findRedisServer();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'instantpost-redis-'));
  let child: ChildProcess | undefined;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--logfile',
    join(dir, 'server.log'),
  ];

  const start = async () => {
    const server = spawn(binary, args, { stdio: 'ignore' });
    child = server;
    const deadline = Date.now() + 10_000;
    while (!(await isReachable('127.0.0.1', port, 200))) {
      if (server.exitCode !== null) throw new Error(`the private redis-server exited (${server.exitCode})`);
      if (Date.now() > deadline) throw new Error('the private redis-server did not listen within 10 s');
      await sleep(50);
    }
  };
  const halt = async () => {
    const server = child;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    const exited = once(server, 'exit');
    server.kill('SIGTERM');
    await exited;
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    restart: async ({ downMs = 0 } = {}) => {
      await halt();
      if (downMs > 0) await sleep(downMs);
      await start();
    },
    stop: async () => {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
