/**
 * The image as the Dockerfile builds it, without Docker: the same build context (.dockerignore), the
 * same prune step, the same `npm ci` (offline-friendly), then the service's CMD, which must get as far
 * as reading its configuration.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { execForm, runCommand, stage } from '../src/docker.ts';
import {
  checkDockerfile,
  copyBuildContext,
  formatFindings,
  REPO_ROOT,
  readDockerfile,
} from '../src/index.ts';
import { codeFacts, render } from './helpers.ts';

const dockerfile = readDockerfile();
const work = mkdtempSync(join(tmpdir(), 'instantpost-image-'));
const context = join(work, 'context');
let contextFiles: string[] = [];

test.before(() => {
  contextFiles = copyBuildContext(context);
});

test.after.always(() => {
  rmSync(work, { recursive: true, force: true });
});

/** The turbo the Dockerfile runs (`npx --yes turbo@<version>`) and the one the repository installed. */
const TURBO = /npx --yes turbo@(\S+)/;
const installedTurbo = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/turbo/package.json'), 'utf8'))
  .version as string;

/**
 * The prune stage's RUN in the build context, with the build args and the stage's paths put in; the
 * repository's own turbo stands in for npx's download (the test below holds them to one version).
 */
function prune(service: string, out: string, port = String(codeFacts().servicePorts[service])): string {
  const command = runCommand(stage(dockerfile, 'prune'), 'turbo')
    .replaceAll('/repo', context)
    .replaceAll('/pruned', out)
    .replaceAll('$SERVICE', service)
    .replaceAll('$PORT', port)
    .replace(TURBO, `"${join(REPO_ROOT, 'node_modules/.bin/turbo')}"`)
    .replace(/^node /, `"${process.execPath}" `)
    .replaceAll(/&& node /g, `&& "${process.execPath}" `);
  return execFileSync('sh', ['-c', command], {
    cwd: context,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SERVICE: service, TURBO_TELEMETRY_DISABLED: '1' },
  });
}

/** The service's CMD in a directory; its exit code and output. */
function runCmd(cwd: string): { status: number | null; output: string } {
  const [node, ...args] = execForm(stage(dockerfile, 'runtime'), 'CMD');
  t_assert(node === 'node', `CMD starts with ${node}`);
  const result = spawnSync(process.execPath, args, {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: 'x', HOST: '0.0.0.0' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function t_assert(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

test('the Dockerfile: Node 24 slim, tini, non-root, HOST, EXPOSE, and the services’ own start and setup scripts', (t) => {
  const findings = checkDockerfile(
    dockerfile,
    Object.keys(codeFacts().servicePorts),
    render('k8s/overlays/prod'),
  );
  t.is(formatFindings(findings), '');
});

test('the prune stage runs the turbo the repository pins', (t) => {
  const pinned = TURBO.exec(runCommand(stage(dockerfile, 'prune'), 'turbo'))?.[1];
  t.is(pinned, installedTurbo, 'deploy/docker/Dockerfile and the root devDependency turbo');
});

test('the build context holds what the prune step reads and none of node_modules, tests or the deploy tree', (t) => {
  for (const file of [
    'package.json',
    'package-lock.json',
    'turbo.json',
    'deploy/docker/check-port.ts',
    'deploy/docker/drop-dev-dependencies.ts',
    'libs/chassis/src/config.ts',
  ]) {
    t.true(contextFiles.includes(file), `${file} is not in the build context`);
  }
  for (const service of Object.keys(codeFacts().servicePorts)) {
    t.true(
      contextFiles.includes(`services/${service}/src/main.ts`),
      `services/${service}/src/main.ts is missing`,
    );
  }
  const leaked = contextFiles.filter(
    (f) => /(^|\/)(node_modules|test|\.git)\//.test(f) || f.startsWith('k8s/') || f === 'Tiltfile',
  );
  t.deepEqual(leaked, []);
});

for (const service of Object.keys(codeFacts().servicePorts)) {
  test(`prune: ${service} gets its workspace and workspace libs, with no devDependencies`, (t) => {
    const out = join(work, `pruned-${service}`);
    const log = prune(service, out);
    t.regex(log, new RegExp(`services/${service}`));
    const root = JSON.parse(readFileSync(join(out, 'json/package.json'), 'utf8')) as { workspaces: string[] };
    t.true(root.workspaces.includes(`services/${service}`));
    t.false(
      root.workspaces.some((w) => w.startsWith('services/') && w !== `services/${service}`),
      'another service',
    );
    t.false(root.workspaces.includes('libs/testing'), 'the test fixtures lib');
    const lock = readFileSync(join(out, 'json/package-lock.json'), 'utf8');
    t.false(lock.includes('"libs/testing"'), 'the lock still has libs/testing');
    for (const dir of root.workspaces) {
      const manifest = JSON.parse(readFileSync(join(out, 'json', dir, 'package.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      t.is(manifest.devDependencies, undefined, `${dir} keeps devDependencies`);
      t.true(existsSync(join(out, 'full', dir, 'src')), `${dir}/src is not copied`);
      t.false(existsSync(join(out, 'full', dir, 'test')), `${dir}/test is copied`);
    }
    // Every workspace package the sources import is in the image.
    const names = root.workspaces.map(
      (dir) =>
        (JSON.parse(readFileSync(join(out, 'json', dir, 'package.json'), 'utf8')) as { name: string }).name,
    );
    const imported = new Set<string>();
    for (const dir of root.workspaces) {
      const files = execFileSync('find', [join(out, 'full', dir, 'src'), '-name', '*.ts'], {
        encoding: 'utf8',
      })
        .split('\n')
        .filter(Boolean);
      for (const file of files) {
        // Type-only imports are erased at run time (libs/chassis's testing helpers type against libs/testing).
        for (const m of readFileSync(file, 'utf8').matchAll(
          /(?:import|export)\s+(type\s+)?[^;]*?from\s+'(@instantpost\/[a-z-]+)/g,
        )) {
          if (!m[1]) imported.add(m[2] as string);
        }
      }
    }
    t.deepEqual(
      [...imported].filter((name) => !names.includes(name)),
      [],
    );
  });
}

test('prune refuses a PORT that is not the service’s', (t) => {
  const error = t.throws(() => prune('feed', join(work, 'wrong'), '3001'));
  t.regex(
    String((error as { stderr?: Buffer }).stderr),
    /PORT 3001 does not match SERVICE_PORTS\['feed'\] = 3004/,
  );
});

// The full install for the service with the most native dependencies (sharp); the others share its
// libs and are covered by the prune checks above. ~15 s with a warm npm cache.
const INSTALLED = 'media-processing';
test(`the pruned ${INSTALLED} installs with the Dockerfile's npm ci and starts as far as the repository does`, (t) => {
  const out = join(work, `install-${INSTALLED}`);
  prune(INSTALLED, out);
  const app = join(work, 'app');
  cpSync(join(out, 'json'), app, { recursive: true });
  const npmCi = runCommand(stage(dockerfile, 'deps'), 'npm ci').replaceAll('$SERVICE', INSTALLED);
  execFileSync('sh', ['-c', `${npmCi} --prefer-offline --loglevel=error`], {
    cwd: app,
    stdio: 'pipe',
    // Not the npm_* variables of an outer `npm test`, which would configure this npm too.
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_'))),
      NODE_ENV: 'production',
    },
  });
  cpSync(join(out, 'full'), app, { recursive: true });
  t.false(existsSync(join(app, 'node_modules/@instantpost/testing')), 'the test fixtures are installed');
  t.false(existsSync(join(app, 'node_modules/ava')), 'a devDependency is installed');
  // The services run on plain node (Node 24 strips the types): tsx is a dev tool, not in the image.
  t.false(existsSync(join(app, 'node_modules/tsx')), 'tsx (a dev tool) is installed in the image');

  const image = runCmd(join(app, 'services', INSTALLED));
  const repo = runCmd(join(REPO_ROOT, 'services', INSTALLED));
  const firstError = (output: string) =>
    (output.match(/Error[^\n]*|PORT[^\n]*/)?.[0] ?? output.trim().split('\n')[0] ?? '')
      .replaceAll(app, '<root>')
      .replaceAll(REPO_ROOT.replace(/\/$/, ''), '<root>');
  t.log(`image: exit ${image.status}: ${firstError(image.output)}`);
  if (/PORT/.test(repo.output) && repo.status === 1) {
    // The code is complete: the image must get as far as the configuration and name the bad PORT.
    t.is(image.status, 1, image.output);
    t.regex(image.output, /PORT[^\n]*must be a whole number/);
  } else {
    // Other packages are still in progress (the repository itself stops earlier): the image must stop
    // at the very same place, never on a module the pruning left out.
    t.log(`the repository itself stops before the configuration: ${firstError(repo.output)}`);
    t.is(image.status, repo.status);
    t.is(firstError(image.output), firstError(repo.output));
  }
  t.notRegex(
    image.output,
    /Cannot find (package|module) '(?!.*\/src\/)/,
    'a package is missing from the image',
  );
});
