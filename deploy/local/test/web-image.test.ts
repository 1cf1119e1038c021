/**
 * The web client's Kubernetes image serves what the local gateway serves: its nginx config
 * (services/web/image/nginx.conf, the file deploy/docker/web.Dockerfile copies in) run by Debian's nginx
 * against the built dist, next to the gateway with the same dist; every path answers the same (status,
 * body, content type, caching, CSP and the other security headers, compression).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { findNginx, type Gateway, startGateway } from '../src/nginx.ts';
import { freePort, waitForOk } from '../src/ports.ts';
import { ensureWebBuild, WEB_DIR, WEB_DIST } from '../src/web.ts';

const IMAGE_CONFIG = join(WEB_DIR, 'image/nginx.conf');

let work: string;
let gateway: Gateway;
let image: { url: string; child: ChildProcess; stderr: () => string };

/**
 * The image's config with the three things that differ on this machine: the port (8080 in the pod), the
 * root (/usr/share/nginx/html, where the Dockerfile copies dist) and /tmp (the pod's emptyDir).
 */
function localConfig(port: number, instance: string): string {
  const config = readFileSync(IMAGE_CONFIG, 'utf8');
  const replaced = config
    .replace(/listen 8080;/, `listen 127.0.0.1:${port};`)
    // So the test waits for this nginx, not another process that took the port first.
    .replace(
      /location = \/healthz \{/,
      `location = /healthz {\n      add_header X-Instance ${instance} always;`,
    )
    // The pod's /tmp first: the root put in next may itself be under /tmp (a clone there, as CI's).
    .replaceAll(' /tmp/', ` ${work}/`)
    .replace(/root \/usr\/share\/nginx\/html;/, `root ${WEB_DIST};`);
  for (const [what, pattern] of [
    ['listen 8080', /listen 8080;/],
    ['root /usr/share/nginx/html', /root \/usr\/share\/nginx\/html;/],
    ['pid /tmp/', /pid \/tmp\//],
    ['location = /healthz', /location = \/healthz \{/],
  ] as const) {
    if (!pattern.test(config)) throw new Error(`${IMAGE_CONFIG} no longer has ${what}: update this test`);
  }
  return replaced;
}

test.before(async () => {
  await ensureWebBuild();
  work = mkdtempSync(join(tmpdir(), 'instantpost-web-image-'));
  // Workers run as nobody when the tests run as root; they write nginx's scratch files here.
  if (process.getuid?.() === 0) chownSync(work, 65534, 65534);
  const nginx = findNginx();
  if (!nginx) throw new Error('nginx is not installed: apt-get install -y nginx-light');
  const port = await freePort();
  const configFile = join(work, 'web-nginx.conf');
  const instance = randomUUID();
  writeFileSync(configFile, localConfig(port, instance));
  const args = ['-p', work, '-c', configFile, '-e', join(work, 'error.log')];
  // The image's CMD: nginx -g 'daemon off;'.
  execFileSync(nginx, ['-t', '-q', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const child = spawn(nginx, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  // The image logs to stderr (error_log stderr warn): kept, so a failed comparison says what nginx saw.
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  image = { url: `http://127.0.0.1:${port}`, child, stderr: () => stderr };
  await waitForOk(`${image.url}/healthz`, {
    timeoutMs: 10_000,
    alive: () => child.exitCode === null,
    header: ['x-instance', instance],
  });
  // The gateway with no service behind it: only its static locations matter here.
  const nowhere = '127.0.0.1:9';
  gateway = await startGateway({
    workDir: join(work, 'gateway'),
    listen: await freePort(),
    upstreams: {
      upload: [nowhere],
      'media-processing': [nowhere],
      metadata: [nowhere],
      feed: [nowhere],
      notification: [nowhere],
    },
    s3: { endpoint: 'http://127.0.0.1:9', bucket: 'none' },
    uploadMaxBytes: 1024 * 1024,
    mediaUrlSigningKey: 'k'.repeat(64),
    webRoot: WEB_DIST,
  });
});

test.after.always(async () => {
  image?.child.kill('SIGQUIT');
  await gateway?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const COMPARED = [
  'content-type',
  'cache-control',
  'content-security-policy',
  'x-content-type-options',
  'referrer-policy',
  'content-encoding',
  'vary',
] as const;

async function answer(base: string, path: string, init: RequestInit = {}) {
  const res = await fetch(`${base}${path}`, {
    ...init,
    headers: { 'accept-encoding': 'gzip', ...init.headers },
  });
  const headers = Object.fromEntries(COMPARED.map((h) => [h, res.headers.get(h)]));
  return { status: res.status, headers, body: await res.text() };
}

test('every path answers as through the gateway: the app, its hashed assets, client routes, API and media 404s', async (t) => {
  const assets = readdirSync(join(WEB_DIST, 'assets'));
  const script = assets.find((a) => a.endsWith('.js'));
  const style = assets.find((a) => a.endsWith('.css'));
  t.truthy(script && style, 'the build made a script and a stylesheet');
  const paths = [
    '/',
    '/index.html',
    '/u/alice',
    '/p/123456789',
    '/t/sunset',
    `/assets/${script}`,
    `/assets/${style}`,
    '/assets/index-missing.js',
    '/v1/no-such-route',
    '/media/no-such-file',
  ];
  for (const path of paths) {
    const [fromImage, fromGateway] = await Promise.all([answer(image.url, path), answer(gateway.url, path)]);
    t.deepEqual(
      fromImage,
      fromGateway,
      `${path} (image nginx ${image.child.exitCode === null ? 'running' : 'exited'}; its log: ${image.stderr() || 'empty'})`,
    );
  }
  // What those answers are (so equal answers cannot both be wrong the same way).
  const page = await answer(image.url, '/u/alice');
  t.is(page.status, 200);
  t.is(page.headers['cache-control'], 'no-cache');
  t.regex(page.headers['content-security-policy'] ?? '', /^default-src 'self'/);
  t.regex(page.body, /<script type="module" crossorigin src="\/assets\/index-[\w-]+\.js">/);
  const js = await answer(image.url, `/assets/${script}`);
  t.is(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  t.is(js.headers['content-encoding'], 'gzip');
  t.is((await answer(image.url, '/assets/index-missing.js')).status, 404, 'a missing asset is not the app');
  t.is((await answer(image.url, '/v1/no-such-route')).status, 404, 'an unrouted API path is not the app');
  // Only GET (and HEAD) reach the files.
  t.is((await answer(image.url, '/', { method: 'POST' })).status, 403);
  t.is((await fetch(`${image.url}/healthz`)).status, 200);
});
