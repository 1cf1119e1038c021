/**
 * The web client in Kubernetes: its image (deploy/docker/web.Dockerfile) built the way Docker would
 * build it, without Docker (its own build context, the build stage's npm ci and Vite build), and its
 * Deployment, Service, Ingress and HTTPRoute agreeing with the image's nginx config. That config serving
 * the built files as the gateway does is deploy/local/test/web-image.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parseDockerfile, runCommand, stage } from '../src/docker.ts';
import { copyBuildContext, httpRouteEntries, httpRouteRoute, REPO_ROOT } from '../src/index.ts';
import { ingressRoute } from '../src/routing.ts';
import { find, render, renderProdWithGatewayApi } from './helpers.ts';

const DOCKERFILE = 'deploy/docker/web.Dockerfile';
const dockerfile = parseDockerfile(readFileSync(join(REPO_ROOT, DOCKERFILE), 'utf8'));
const nginxConf = readFileSync(join(REPO_ROOT, 'services/web/image/nginx.conf'), 'utf8');
const work = mkdtempSync(join(tmpdir(), 'instantpost-web-image-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

/** The `SRC DEST` of the runtime stage's COPY instructions. */
function copies(): { from?: string; src: string; dest: string }[] {
  return stage(dockerfile, 'runtime')
    .instructions.filter((i) => i.startsWith('COPY '))
    .map((i) => {
      const parts = i.split(' ').slice(1);
      const from = parts[0]?.startsWith('--from=') ? parts.shift()?.slice('--from='.length) : undefined;
      return { from, src: parts[0] ?? '', dest: parts[1] ?? '' };
    });
}

test('the build stage builds dist in its own context: the sources, every manifest, nothing else', (t) => {
  const context = join(work, 'context');
  const files = copyBuildContext(context, REPO_ROOT, `${DOCKERFILE}.dockerignore`);
  t.true(files.includes('services/web/src/main.tsx'));
  t.true(files.includes('services/web/image/nginx.conf'));
  t.true(files.includes('libs/http/package.json'), "other workspaces' manifests (npm ci reads the lock)");
  t.false(
    files.some((f) => /^(services\/(?!web\/)[^/]+|libs\/[^/]+)\/(?!package\.json$)/.test(f)),
    'no other sources',
  );
  t.false(
    files.some((f) => f.startsWith('services/web/dist/') || f.includes('node_modules')),
    'no build output',
  );
  // The RUN of the build stage (npm ci, then the build), offline when the npm cache has everything.
  const build = stage(dockerfile, 'build');
  t.true(build.instructions.includes('WORKDIR /repo') && build.instructions.includes('COPY . .'));
  const command = runCommand(build, 'npm ci').replace(/npm ci /, 'npm ci --prefer-offline --loglevel=error ');
  execFileSync('sh', ['-c', command], {
    cwd: context,
    stdio: 'pipe',
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_'))),
  });
  const dist = join(context, 'services/web/dist');
  const index = readFileSync(join(dist, 'index.html'), 'utf8');
  const assets = readdirSync(join(dist, 'assets'));
  for (const asset of assets) t.true(index.includes(`/assets/${asset}`), `index.html names ${asset}`);
  t.true(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')));
  t.false(existsSync(join(context, 'node_modules/pg')), 'only the web client’s dependencies');
});

test('the runtime stage is nginx with the config and dist where the config looks, as a numeric non-root user', (t) => {
  const runtime = stage(dockerfile, 'runtime');
  const media = find(render('k8s/overlays/prod'), 'Deployment', 'media-cache');
  t.is(
    dockerfile.globalArgs.NGINX_IMAGE,
    media.spec.template.spec.containers[0].image,
    "the media cache's nginx image",
  );
  t.regex(runtime.from, /^\$\{NGINX_IMAGE\}$/);
  t.deepEqual(copies(), [
    { from: undefined, src: 'services/web/image/nginx.conf', dest: '/etc/nginx/nginx.conf' },
    { from: 'build', src: '/repo/services/web/dist', dest: '/usr/share/nginx/html' },
  ]);
  t.regex(nginxConf, /^\s*root \/usr\/share\/nginx\/html;/m);
  const listen = /^\s*listen (\d+);/m.exec(nginxConf)?.[1];
  t.true(runtime.instructions.includes(`EXPOSE ${listen}`));
  t.regex(runtime.instructions.find((i) => i.startsWith('USER ')) ?? '', /^USER [1-9]\d*:\d+$/);
});

for (const overlay of ['k8s/overlays/dev', 'k8s/overlays/prod'] as const) {
  test(`${overlay}: the web Deployment runs the image on the config's port, read-only but for /tmp`, (t) => {
    const objects = render(overlay);
    const deployment = find(objects, 'Deployment', 'web');
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    t.is(container.image, 'instantpost/web');
    const listen = Number(/^\s*listen (\d+);/m.exec(nginxConf)?.[1]);
    t.is(container.ports.find((p: { name: string }) => p.name === 'http')?.containerPort, listen);
    t.true(container.securityContext.readOnlyRootFilesystem);
    t.true(pod.securityContext.runAsNonRoot);
    // Everything nginx writes (pid, temp files) is under /tmp, the emptyDir.
    const written = [...nginxConf.matchAll(/^\s*(?:pid|\w+_temp_path) (\S+);/gm)].map((m) => m[1] ?? '');
    t.true(written.length >= 6);
    t.true(
      written.every((path) => path.startsWith('/tmp/')),
      written.join(' '),
    );
    t.true(
      container.volumeMounts.some((m: { mountPath: string }) => m.mountPath === '/tmp'),
      '/tmp mounted',
    );
    t.is(find(objects, 'Service', 'web').spec.ports[0].targetPort, 'http');
  });
}

test('the Ingress and the HTTPRoutes send / and client routes to web, /v1 and /media where they went', (t) => {
  const objects = renderProdWithGatewayApi();
  const ingresses = objects.filter((o) => o.kind === 'Ingress');
  const { entries: routes } = httpRouteEntries(objects.filter((o) => o.kind === 'HTTPRoute'));
  const expected: Record<string, string> = {
    '/': 'web',
    '/u/alice': 'web',
    '/p/123': 'web',
    '/assets/index-Ab12.js': 'web',
    '/v1/nothing-here': 'web',
    '/v1/feed': 'feed',
    '/v1/users/alice': 'metadata',
    '/v1/media': 'upload',
    '/v1/notifications/stream': 'notification',
    '/media/1/640.webp': 'media-cache',
    '/v1/openapi.json': 'media-cache',
  };
  for (const [path, service] of Object.entries(expected)) {
    t.is(ingressRoute(ingresses, path), service, `Ingress ${path}`);
    t.is(httpRouteRoute(routes, path), service, `HTTPRoute ${path}`);
  }
  // An API path no route knows reaches the web server, which answers 404 for it, never the app.
  t.regex(nginxConf, /location \/v1\/ \{\s*default_type application\/problem\+json;\s*return 404/);
});
