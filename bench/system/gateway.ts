/**
 * The reads' raw baseline behind the same nginx (PITFALLS: behind nginx a bare route answers ~0.6-0.75 of
 * the same route hit directly, so gateway figures are compared with a bare route through the same
 * gateway). The running gateway's nginx.conf gets an upstream to the bare Fastify server (`bare.ts`, the same keepalive
 * lines as the services' upstreams) and `location = /bench/bare` in its server block, every other setting of
 * the server (limits, proxy headers, request ids, access log) applying to it as to /v1/*; then the master
 * reloads (SIGHUP) and new workers answer it. Only the benchmark's own copy of the config is edited.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { findNginx, UPSTREAM_KEEPALIVE } from '../../deploy/local/src/index.ts';

export const BARE_PATH = '/bench/bare';

export async function routeBareThroughGateway(
  configFile: string,
  gatewayUrl: string,
  barePort: number,
): Promise<void> {
  const config = readFileSync(configFile, 'utf8');
  const upstream = `\n  upstream bench_bare {\n    server 127.0.0.1:${barePort};\n${UPSTREAM_KEEPALIVE}\n  }\n\n  server {`;
  const location = `    location = ${BARE_PATH} {\n      proxy_pass http://bench_bare/bare;\n    }\n\n    location = /healthz {`;
  if (!config.includes('\n  server {') || !config.includes('    location = /healthz {'))
    throw new Error(`${configFile}: no server block or /healthz location to add the bare route next to`);
  writeFileSync(
    configFile,
    config.replace('\n  server {', upstream).replace('    location = /healthz {', location),
  );
  const workDir = dirname(configFile);
  const nginx = findNginx();
  if (!nginx) throw new Error('nginx is not installed');
  execFileSync(nginx, ['-t', '-q', '-p', workDir, '-c', configFile, '-e', join(workDir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const master = Number(readFileSync(join(workDir, 'nginx.pid'), 'utf8').trim());
  process.kill(master, 'SIGHUP');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await fetch(`${gatewayUrl}${BARE_PATH}`).catch(() => undefined);
    if (res?.status === 200) return;
    await res?.arrayBuffer();
    if (Date.now() > deadline) throw new Error(`the gateway does not answer ${BARE_PATH} after its reload`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
