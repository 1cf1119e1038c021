import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { isReachable } from '@instantpost/testing';

/** A piece of infrastructure the local stack needs on this machine. */
interface Dependency {
  name: string;
  port: number;
  /** Debian packages that provide it. */
  packages: string[];
  installed: () => boolean;
  /** Starts it in the background; returns how to stop it again. */
  start: () => () => void;
}

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: 'inherit' });
}

function postgresVersion(): string | undefined {
  if (!existsSync('/etc/postgresql')) return undefined;
  return readdirSync('/etc/postgresql').sort().at(-1);
}

const DEPENDENCIES: Dependency[] = [
  {
    name: 'PostgreSQL',
    port: 5432,
    packages: ['postgresql'],
    installed: () => postgresVersion() !== undefined,
    start: () => {
      const version = postgresVersion() ?? '';
      // wal_level=logical: shard moves (npm run shards -- move) copy a shard by logical replication.
      run('pg_ctlcluster', [
        '--skip-systemctl-redirect',
        version,
        'main',
        'start',
        '--',
        '-o',
        '-c wal_level=logical',
      ]);
      return () => run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'stop']);
    },
  },
  {
    name: 'Redis',
    port: 6379,
    packages: ['redis-server'],
    installed: () => existsSync('/usr/bin/redis-server'),
    start: () => {
      run('redis-server', [
        '--daemonize',
        'yes',
        '--bind',
        '127.0.0.1',
        '--port',
        '6379',
        '--save',
        '',
        '--appendonly',
        'no',
      ]);
      return () => run('redis-cli', ['-p', '6379', 'shutdown', 'nosave']);
    },
  },
  {
    name: 'NATS with JetStream',
    port: 4222,
    packages: ['nats-server'],
    installed: () => existsSync('/usr/sbin/nats-server') || existsSync('/usr/bin/nats-server'),
    start: () => {
      const bin = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : '/usr/bin/nats-server';
      const child = spawn(bin, ['-a', '127.0.0.1', '-p', '4222', '-js', '-sd', '/var/lib/nats-server'], {
        detached: true,
        stdio: 'ignore',
      });
      child.unref();
      return () => child.kill('SIGTERM');
    },
  },
];

const isRoot = () => process.getuid?.() === 0;

function aptInstall(packages: string[]): void {
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', ...packages]);
}

async function waitForPort(name: string, port: number): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if (await isReachable('127.0.0.1', port)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${name} did not start listening on 127.0.0.1:${port}`);
}

/**
 * Makes sure Postgres, Redis and NATS (JetStream) answer on their default ports: starts them when
 * installed but stopped, installs them from Debian's packages when missing and running as root,
 * otherwise stops with the exact install command. Returns a function that stops what it started.
 */
export async function ensureInfrastructure(log: (line: string) => void): Promise<() => void> {
  const stops: Array<() => void> = [];
  for (const dep of DEPENDENCIES) {
    if (await isReachable('127.0.0.1', dep.port)) {
      log(`${dep.name}: running on 127.0.0.1:${dep.port}`);
      continue;
    }
    if (!dep.installed()) {
      if (!isRoot()) {
        throw new Error(
          `${dep.name} is not installed. Install it with:\n  sudo apt-get install -y ${dep.packages.join(' ')}`,
        );
      }
      log(`${dep.name}: installing ${dep.packages.join(' ')} from Debian's packages`);
      aptInstall(dep.packages);
    }
    if (await isReachable('127.0.0.1', dep.port)) continue; // the package's own service started it
    log(`${dep.name}: starting`);
    stops.push(dep.start());
    await waitForPort(dep.name, dep.port);
  }
  return () => {
    for (const stop of stops.reverse()) {
      try {
        stop();
      } catch {
        // already stopped
      }
    }
  };
}

/** nginx from Debian's packages (installed when missing and running as root). */
export function ensureNginx(found: string | undefined, log: (line: string) => void): void {
  if (found) return;
  if (!isRoot())
    throw new Error('nginx is not installed. Install it with:\n  sudo apt-get install -y nginx-light');
  log("nginx: installing nginx-light from Debian's packages");
  aptInstall(['nginx-light']);
}

/** The njs module verifies signed media URLs in the gateway (Debian: libnginx-mod-http-js). */
export function ensureNjs(found: string | undefined, log: (line: string) => void): void {
  if (found) return;
  if (!isRoot())
    throw new Error(
      'the njs module for nginx is not installed. Install it with:\n  sudo apt-get install -y libnginx-mod-http-js',
    );
  log("nginx: installing libnginx-mod-http-js (njs) from Debian's packages");
  aptInstall(['libnginx-mod-http-js']);
}

/** Prometheus for `npm start -- --monitoring` (Debian: prometheus, which also ships promtool). */
export function ensurePrometheus(found: string | undefined, log: (line: string) => void): void {
  if (found) return;
  if (!isRoot())
    throw new Error('Prometheus is not installed. Install it with:\n  sudo apt-get install -y prometheus');
  log("Prometheus: installing prometheus from Debian's packages");
  aptInstall(['prometheus']);
}
