import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceName } from '@instantpost/chassis';
import { OPENAPI_FILE } from './openapi.ts';
import { waitForOk } from './ports.ts';
import { REPO_ROOT } from './service-process.ts';
import { WEB_DIST } from './web.ts';

/** What a deployment may tune on the gateway; each has a default sized for this machine (README). */
export interface GatewayTuning {
  /** How long a cached rendition is served before it is revalidated with S3 (a deleted one then stops). */
  mediaCacheValidSeconds?: number;
  /** Open connections per client address (all paths but the stream). */
  connectionsPerClient?: number;
  /** Open notification streams per client address (several users behind one NAT share it). */
  streamsPerClient?: number;
  /** nginx worker processes: a number or `auto` (one per core); default WORKER_PROCESSES. */
  workerProcesses?: number | 'auto';
}

export interface GatewayOptions extends GatewayTuning {
  /** Where nginx keeps its config, pid, temp files and cache. */
  workDir: string;
  listen: number;
  /** host:port of every replica of each service. */
  upstreams: Record<ServiceName, string[]>;
  s3: { endpoint: string; bucket: string };
  /** The upload service's size limit; nginx allows it plus the multipart envelope. */
  uploadMaxBytes: number;
  accessLog?: boolean;
  /** MEDIA_URL_SIGNING_KEY: nginx gets it in its environment (never in the rendered file, never logged). */
  mediaUrlSigningKey: string;
  /** The web client's built files served at `/` (default services/web/dist; `ensureWebBuild` makes it). */
  webRoot?: string;
  /** Sent by /healthz as X-Gateway-Instance: startGateway waits for its own nginx by it (random per start). */
  instance?: string;
}

/** Default of `mediaCacheValidSeconds`: a deleted post's renditions stop within the 60 s the API promises. */
export const MEDIA_CACHE_VALID_SECONDS = 30;
/**
 * One worker of 4,096 connections holds ~2,000 proxied requests (each also opens one to a service), so a
 * single address may hold 128 of them, and 40 streams (8 people behind one NAT at 5 streams each).
 */
export const CONNECTIONS_PER_CLIENT = 128;
/**
 * Idle keep-alive connections each worker keeps to each service (and how long and how many requests each
 * lives): a request never waits for a TCP handshake to a service, and a connection is not closed every
 * 1,000 requests (nginx's default) under load. bench/system's bare route gets the same lines. Measured
 * (bench/system/reads.ts, one seeded stack, the gateway reloaded with `keepalive` commented out and back,
 * alternating, 2026-11-29 16:57): GET /v1/posts/:id 10,272 / 12,839 req/s with it vs 4,050 / 4,447 without
 * (p99 8-10 vs 52-88 ms), the bare route 25-29k vs 7.7-9k: every request then pays a TCP handshake and a
 * TIME_WAIT socket on the same CPU.
 */
export const UPSTREAM_KEEPALIVE =
  '    keepalive 64;\n    keepalive_requests 10000;\n    keepalive_timeout 60s;';
/** worker_processes of the local gateway (GatewayTuning.workerProcesses). */
export const WORKER_PROCESSES = '1';
export const STREAMS_PER_CLIENT = 40;

const TEMPLATE = join(REPO_ROOT, 'deploy/nginx/nginx.conf.template');
const NGINX_CANDIDATES = [
  '/usr/sbin/nginx',
  '/usr/bin/nginx',
  '/usr/local/sbin/nginx',
  '/usr/local/bin/nginx',
];

export function findNginx(): string | undefined {
  return NGINX_CANDIDATES.find((p) => existsSync(p));
}

const NGINX_DIR = join(REPO_ROOT, 'deploy/nginx');
/** Where Debian (libnginx-mod-http-js), nginx.org's packages and source builds put the njs module. */
const NJS_CANDIDATES = [
  '/usr/lib/nginx/modules/ngx_http_js_module.so',
  '/usr/lib64/nginx/modules/ngx_http_js_module.so',
  '/etc/nginx/modules/ngx_http_js_module.so',
  '/usr/local/nginx/modules/ngx_http_js_module.so',
];

export function findNjsModule(): string | undefined {
  return NJS_CANDIDATES.find((p) => existsSync(p));
}

/** The gateway's nginx.conf, from deploy/nginx/nginx.conf.template. */
export function renderNginxConfig(options: GatewayOptions): string {
  const upstreams = Object.entries(options.upstreams)
    .map(
      ([service, servers]) =>
        `  upstream ${service} {\n${servers.map((s) => `    server ${s} max_fails=1 fail_timeout=2s;`).join('\n')}\n${UPSTREAM_KEEPALIVE}\n  }`,
    )
    .join('\n');
  const readiness = Object.keys(options.upstreams)
    .map(
      (service) => `    location = /_readyz/${service} {\n      proxy_pass http://${service}/readyz;\n    }`,
    )
    .join('\n');
  const s3 = new URL(options.s3.endpoint);
  const envelope = 1024 * 1024;
  const njs = findNjsModule();
  if (!njs)
    throw new Error('the njs module for nginx is not installed: apt-get install -y libnginx-mod-http-js');
  const values: Record<string, string> = {
    NJS_MODULE: njs,
    WORKER_PROCESSES: String(options.workerProcesses ?? WORKER_PROCESSES),
    NGINX_DIR: `${NGINX_DIR}/`,
    MEDIA_CACHE_VALID: `${options.mediaCacheValidSeconds ?? MEDIA_CACHE_VALID_SECONDS}s`,
    CONNECTIONS_PER_CLIENT: String(options.connectionsPerClient ?? CONNECTIONS_PER_CLIENT),
    STREAMS_PER_CLIENT: String(options.streamsPerClient ?? STREAMS_PER_CLIENT),
    USER_DIRECTIVE: process.getuid?.() === 0 ? 'user nobody nogroup;' : '',
    WORK_DIR: options.workDir,
    ACCESS_LOG: options.accessLog ? `${options.workDir}/access.log instantpost` : 'off',
    UPSTREAMS: upstreams,
    LISTEN: `127.0.0.1:${options.listen}`,
    CLIENT_MAX_BODY_SIZE: `${Math.ceil((options.uploadMaxBytes + envelope) / 1024)}k`,
    S3_ENDPOINT: s3.origin,
    S3_HOST: s3.host,
    S3_BUCKET: options.s3.bucket,
    READINESS_LOCATIONS: readiness,
    OPENAPI_FILE,
    WEB_ROOT: options.webRoot ?? WEB_DIST,
    INSTANCE: options.instance ?? 'local',
  };
  return readFileSync(TEMPLATE, 'utf8').replace(/\{\{([A-Z0-9_]+)\}\}/g, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`nginx template: no value for ${whole}`);
    return value;
  });
}

/** A running nginx gateway. */
export interface Gateway {
  readonly url: string;
  readonly configFile: string;
  stop(): Promise<void>;
}

/** The gateway's port was taken by another process before nginx bound it. */
export class GatewayPortTaken extends Error {
  readonly port: number;
  constructor(port: number) {
    super(`the gateway's port ${port} was taken by another process before nginx bound it`);
    this.port = port;
  }
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const nginx = findNginx();
  if (!nginx) throw new Error('nginx is not installed: apt-get install -y nginx-light');
  mkdirSync(join(options.workDir, 'cache'), { recursive: true });
  if (process.getuid?.() === 0) {
    // Workers run as nobody; they write the cache and temp files.
    for (const d of ['', 'cache']) chownSync(join(options.workDir, d), 65534, 65534);
  }
  const configFile = join(options.workDir, 'nginx.conf');
  const instance = randomUUID();
  writeFileSync(configFile, renderNginxConfig({ ...options, instance }));
  if (!options.mediaUrlSigningKey) throw new Error('the gateway needs MEDIA_URL_SIGNING_KEY');
  // `env MEDIA_URL_SIGNING_KEY;` in the config passes it on to the workers' njs.
  const env = { ...process.env, MEDIA_URL_SIGNING_KEY: options.mediaUrlSigningKey };
  execFileSync(
    nginx,
    ['-t', '-q', '-p', options.workDir, '-c', configFile, '-e', join(options.workDir, 'error.log')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env,
    },
  );
  const child: ChildProcess = spawn(
    nginx,
    ['-p', options.workDir, '-c', configFile, '-e', join(options.workDir, 'error.log')],
    { stdio: 'ignore', env },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${options.listen}`;
  try {
    await waitForOk(`${url}/healthz`, {
      timeoutMs: 10_000,
      alive: () => child.exitCode === null,
      header: ['x-gateway-instance', instance],
    });
  } catch (err) {
    child.kill('SIGKILL');
    const log = readFileSync(join(options.workDir, 'error.log'), { encoding: 'utf8', flag: 'a+' });
    if (log.includes('Address already in use')) throw new GatewayPortTaken(options.listen);
    throw err;
  }
  return {
    url,
    configFile,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGQUIT'); // graceful: finish open requests
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
