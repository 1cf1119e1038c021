/**
 * Completes `turbo prune --docker --production` for npm: turbo leaves out the workspaces a service
 * reaches only through devDependencies (libs/testing), but keeps those devDependencies in the copied
 * manifests and the lock, where `npm ci` (even with --omit=dev) would look the missing workspace up in the
 * public registry — a 404, or someone else's package of that name. This drops every devDependency
 * declaration of the pruned workspaces from their manifests and the lock; the root's stay (npm installs
 * them never: the Dockerfile passes --include-workspace-root=false).
 *
 *   node deploy/docker/drop-dev-dependencies.ts <turbo prune --docker output dir>
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

type Json = Record<string, unknown>;

const read = (file: string): Json => JSON.parse(readFileSync(file, 'utf8')) as Json;
const write = (file: string, value: unknown) => writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);

export function dropDevDependencies(out: string): string[] {
  const workspaces = (read(join(out, 'json/package.json')).workspaces ?? []) as string[];
  for (const tree of ['json', 'full']) {
    for (const dir of workspaces) {
      const file = join(out, tree, dir, 'package.json');
      const { devDependencies: _dev, ...manifest } = read(file);
      write(file, manifest);
    }
  }
  for (const lockFile of [join(out, 'json/package-lock.json'), join(out, 'package-lock.json')]) {
    if (!existsSync(lockFile)) continue;
    const lock = read(lockFile) as { packages: Record<string, Json> };
    for (const dir of workspaces) {
      const { devDependencies: _dev, ...entry } = lock.packages[dir] ?? {};
      lock.packages[dir] = entry;
    }
    write(lockFile, lock);
  }
  return workspaces;
}

if (import.meta.main) {
  const [out] = process.argv.slice(2);
  if (!out) {
    process.stderr.write('usage: node drop-dev-dependencies.ts <turbo prune --docker output dir>\n');
    process.exit(2);
  }
  process.stdout.write(`prune: the image carries ${dropDevDependencies(out).sort().join(', ')}\n`);
}
