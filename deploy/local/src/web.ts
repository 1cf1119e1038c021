/**
 * The web client's static files for the gateway (services/web/dist), built when missing or stale. Stale
 * means the hash of the client's sources differs from the one the last build recorded; tests that start
 * stacks at the same time build once between them (a lock directory), and a build lands in a fresh folder
 * renamed into place, so a running gateway never serves a half-written dist.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './service-process.ts';

const run = promisify(execFile);

export const WEB_DIR = join(REPO_ROOT, 'services/web');
/** What the gateway serves at `/`. */
export const WEB_DIST = join(WEB_DIR, 'dist');
const STAMP = '.sources-sha256';
const LOCK = join(WEB_DIR, '.build-lock');
const LOCK_STALE_MS = 5 * 60_000;
const INPUTS = [
  'index.html',
  'package.json',
  'tsconfig.json',
  'vite.config.ts',
  'src',
  'generated',
  'public',
];

function filesOf(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((entry) => filesOf(join(path, entry)));
}

/** One hash over the client's sources: names and contents. */
export function webSourcesHash(): string {
  const hash = createHash('sha256');
  for (const file of INPUTS.flatMap((input) => filesOf(join(WEB_DIR, input)))) {
    hash.update(relative(WEB_DIR, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

function isFresh(hash: string): boolean {
  try {
    return readFileSync(join(WEB_DIST, STAMP), 'utf8') === hash && existsSync(join(WEB_DIST, 'index.html'));
  } catch {
    return false;
  }
}

async function withLock<T>(work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_STALE_MS;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A build that died keeps its lock; past the longest build it is someone's leftover.
      const since = statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs;
      if (since !== undefined && Date.now() - since > LOCK_STALE_MS) {
        rmSync(LOCK, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`the web client's build lock ${LOCK} is held too long`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    return await work();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/**
 * Builds services/web into dist unless it is already built from these sources. Returns whether it built.
 * `log` hears what happens (npm start prints it).
 */
export async function ensureWebBuild(log: (line: string) => void = () => {}): Promise<boolean> {
  if (isFresh(webSourcesHash())) return false;
  return withLock(async () => {
    const hash = webSourcesHash();
    if (isFresh(hash)) return false; // another process built it while this one waited
    log('building the web client (services/web)');
    const out = join(WEB_DIR, `.dist-${process.pid}`);
    rmSync(out, { recursive: true, force: true });
    try {
      await run('npm', ['run', 'build', '-w', '@instantpost/web', '--', '--outDir', out], {
        cwd: REPO_ROOT,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (err) {
      rmSync(out, { recursive: true, force: true });
      const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
      throw new Error(`the web client's build failed:\n${stdout}${stderr}`, { cause: err });
    }
    writeFileSync(join(out, STAMP), hash);
    const old = join(WEB_DIR, `.dist-old-${process.pid}`);
    if (existsSync(WEB_DIST)) renameSync(WEB_DIST, old);
    renameSync(out, WEB_DIST);
    rmSync(old, { recursive: true, force: true });
    return true;
  });
}
