/**
 * Prunes the monorepo to what one service's image needs, like `turbo prune` does for other package
 * managers. The Dockerfile runs it with plain Node 24 (type stripping, no dependencies); the image
 * checks in deploy/k8s-checks run the very same script.
 *
 *   node deploy/docker/prune.ts <service> <repo dir> <out dir> [expected port]
 *
 * writes
 *   <out>/json/  package.json, package-lock.json and the package.json of every workspace the service
 *                needs (itself and its workspace libs, following `dependencies` only), with every
 *                devDependency and every other workspace taken out of the manifests and the lock, so
 *                `npm ci --omit=dev` installs the production dependencies of that service alone;
 *   <out>/full/  the same plus the files of those workspaces (tests, READMEs and node_modules left out).
 *
 * With an expected port, it also fails unless SERVICE_PORTS in libs/chassis gives the service that port,
 * so the image's EXPOSE and PORT cannot drift from the code.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  workspaces?: string[];
  [key: string]: unknown;
}

interface LockEntry {
  link?: boolean;
  resolved?: string;
  devDependencies?: Record<string, string>;
  workspaces?: string[];
  [key: string]: unknown;
}

/** What a workspace's image does not need at run time. */
const SKIPPED = new Set(['test', 'node_modules', 'dist', '.turbo', 'coverage', 'README.md', 'tsconfig.json']);

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

function writeJson(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Every workspace folder (relative to the repo) by package name, from the root `workspaces` globs. */
function workspaceDirs(repo: string, globs: string[]): Map<string, string> {
  const byName = new Map<string, string>();
  for (const glob of globs) {
    const dirs = glob.endsWith('/*')
      ? readdirSync(join(repo, glob.slice(0, -2)), { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => `${glob.slice(0, -2)}/${d.name}`)
      : [glob];
    for (const dir of dirs) {
      const file = join(repo, dir, 'package.json');
      if (existsSync(file)) byName.set(readJson<Manifest>(file).name, dir);
    }
  }
  return byName;
}

/** The service's folder and every workspace it reaches through `dependencies` (not devDependencies). */
export function workspaceClosure(repo: string, service: string): string[] {
  const root = readJson<Manifest>(join(repo, 'package.json'));
  const byName = workspaceDirs(repo, root.workspaces ?? []);
  const start = `services/${service}`;
  if (!existsSync(join(repo, start, 'package.json'))) throw new Error(`no such service: ${start}`);
  const seen = new Set<string>([start]);
  const queue = [start];
  for (let dir = queue.shift(); dir !== undefined; dir = queue.shift()) {
    const manifest = readJson<Manifest>(join(repo, dir, 'package.json'));
    for (const dep of Object.keys(manifest.dependencies ?? {})) {
      const depDir = byName.get(dep);
      if (depDir && !seen.has(depDir)) {
        seen.add(depDir);
        queue.push(depDir);
      }
    }
  }
  return [...seen].sort();
}

function servicePort(repo: string, service: string): number | undefined {
  const source = readFileSync(join(repo, 'libs/chassis/src/config.ts'), 'utf8');
  const block = /SERVICE_PORTS\s*=\s*\{([^}]*)\}/.exec(source)?.[1] ?? '';
  const escaped = service.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  const match = new RegExp(`(?:^|[\\s,{])'?${escaped}'?\\s*:\\s*(\\d+)`).exec(block);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

export function prune(service: string, repo: string, out: string): string[] {
  const closure = workspaceClosure(repo, service);
  const keep = new Set(closure);
  rmSync(out, { recursive: true, force: true });

  const root = readJson<Manifest>(join(repo, 'package.json'));
  const prunedRoot: Manifest = {
    name: root.name,
    private: true,
    type: root.type,
    workspaces: closure,
    ...(root.engines ? { engines: root.engines } : {}),
    // npm reads which packages may run install scripts from the root manifest.
    ...(root.allowScripts ? { allowScripts: root.allowScripts } : {}),
  };

  const lock = readJson<{ packages: Record<string, LockEntry>; [key: string]: unknown }>(
    join(repo, 'package-lock.json'),
  );
  const packages: Record<string, LockEntry> = {};
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key === '') {
      const { devDependencies: _dev, ...rest } = entry;
      packages[key] = { ...rest, workspaces: closure };
    } else if (!key.includes('node_modules/')) {
      // A workspace folder: keep the ones the service needs, without their devDependencies.
      if (!keep.has(key)) continue;
      const { devDependencies: _dev, ...rest } = entry;
      packages[key] = rest;
    } else if (entry.link && entry.resolved !== undefined && !entry.resolved.includes('node_modules/')) {
      if (keep.has(entry.resolved)) packages[key] = entry;
    } else {
      // Registry packages no kept workspace reaches are extraneous: npm ci leaves them out.
      packages[key] = entry;
    }
  }

  for (const target of ['json', 'full']) {
    const base = join(out, target);
    writeJson(join(base, 'package.json'), prunedRoot);
    writeJson(join(base, 'package-lock.json'), { ...lock, packages });
    for (const dir of closure) {
      const { devDependencies: _dev, ...manifest } = readJson<Manifest>(join(repo, dir, 'package.json'));
      writeJson(join(base, dir, 'package.json'), manifest);
      if (target === 'full') {
        for (const entry of readdirSync(join(repo, dir))) {
          if (SKIPPED.has(entry) || entry === 'package.json') continue;
          cpSync(join(repo, dir, entry), join(base, dir, entry), { recursive: true });
        }
      }
    }
  }
  return closure;
}

if (import.meta.main) {
  const [service, repo, out, port] = process.argv.slice(2);
  if (!service || !repo || !out) {
    process.stderr.write('usage: node prune.ts <service> <repo dir> <out dir> [expected port]\n');
    process.exit(2);
  }
  if (port !== undefined && port !== '') {
    const actual = servicePort(repo, service);
    if (actual !== Number(port)) {
      process.stderr.write(
        `prune: PORT ${port} does not match SERVICE_PORTS['${service}'] = ${actual} in libs/chassis/src/config.ts\n`,
      );
      process.exit(1);
    }
  }
  const closure = prune(service, repo, out);
  process.stdout.write(`prune: ${service} needs ${closure.join(', ')}\n`);
}
