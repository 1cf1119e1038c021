import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from './ports.ts';
import { sleep } from './wait.ts';

/** A Postgres server of a test's own, so the test may restart or stop it without touching anyone else. */
export interface PrivatePostgres {
  /** A superuser (`postgres`, trust auth) on the `postgres` database. */
  readonly url: string;
  readonly port: number;
  /** The server's log (stderr), for a look after a failure. */
  readonly logFile: string;
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /**
   * Stops the server and starts it again on the same port and data. `fast` (SIGINT) ends sessions and
   * checkpoints; `immediate` (SIGQUIT) is a crash: the start replays the WAL. `downMs` keeps it down longer.
   */
  restart(options?: { mode?: 'fast' | 'immediate'; downMs?: number }): Promise<void>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

export interface PrivatePostgresOptions {
  /** `-c name=value` settings on top of the defaults (fsync off: a test's data need not survive the machine). */
  settings?: Record<string, string>;
}

/** The newest Debian-packaged server binaries (`/usr/lib/postgresql/<major>/bin`), else `pg_config --bindir`. */
function findBinDir(): string {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const majors = readdirSync(root)
      .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'postgres')))
      .sort((a, b) => Number(b) - Number(a));
    if (majors[0]) return join(root, majors[0], 'bin');
  }
  const out = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const dir = out.status === 0 ? out.stdout.trim() : '';
  if (dir && existsSync(join(dir, 'postgres'))) return dir;
  throw new Error('no Postgres server binaries found (apt: postgresql)');
}

/** initdb and postgres refuse to run as root: as root, run them as the `postgres` user. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0)
    throw new Error('running as root needs a `postgres` user to run the private Postgres server');
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

async function waitAccepting(url: string, server: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null)
      throw new Error(`the private Postgres exited while starting (${server.exitCode ?? server.signalCode})`);
    const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
    const ok = await sql`SELECT 1`.then(
      () => true,
      () => false,
    );
    await sql.end({ timeout: 1 });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`the private Postgres was not ready within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * Postgres from the machine's binaries in a temp directory on a free port (initdb, then `postgres`),
 * for tests that restart or stop Postgres. Unix sockets stay inside the data directory.
 */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const bin = findBinDir();
  const user = runAs();
  const home = mkdtempSync(join(tmpdir(), 'instantpost-pg-'));
  const dataDir = join(home, 'data');
  const logFile = join(home, 'server.log');
  if (user) chownSync(home, user.uid, user.gid);
  const asUser = { ...(user ?? {}), cwd: home, env: { ...process.env, LC_ALL: 'C' } };
  const init = spawnSync(
    join(bin, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8'],
    { ...asUser, encoding: 'utf8' },
  );
  if (init.status !== 0) {
    rmSync(home, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}): ${init.stderr || init.error?.message}`);
  }
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: dataDir,
    fsync: 'off',
    full_page_writes: 'off',
    max_connections: '200',
    shared_buffers: '32MB',
    ...options.settings,
  };
  const args = ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  let server: ChildProcess | undefined;

  const start = async () => {
    const log = openSync(logFile, 'a');
    if (user) chownSync(logFile, user.uid, user.gid);
    const child = spawn(join(bin, 'postgres'), args, { ...asUser, stdio: ['ignore', log, log] });
    server = child;
    await waitAccepting(url, child);
  };
  const halt = async (signal: NodeJS.Signals) => {
    const child = server;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  };

  await start();
  return {
    url,
    port,
    logFile,
    createDatabase: async (name) => {
      const admin = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      } finally {
        await admin.end();
      }
      const target = new URL(url);
      target.pathname = `/${name}`;
      return target.toString();
    },
    restart: async ({ mode = 'fast', downMs = 0 } = {}) => {
      await halt(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
      if (downMs > 0) await sleep(downMs);
      await start();
    },
    stop: async () => {
      await halt('SIGINT');
      rmSync(home, { recursive: true, force: true });
    },
  };
}
