/**
 * The image build, read from deploy/docker/Dockerfile and .dockerignore, so the checks build what
 * the Dockerfile builds: the same build context, the same prune step, the same `npm ci`, the same CMD.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { REPO_ROOT } from './code.ts';
import type { Finding, K8sObject } from './types.ts';

export const DOCKERFILE = 'deploy/docker/Dockerfile';

export interface Stage {
  name: string;
  from: string;
  /** Instructions with their continuation lines joined: `RUN npm ci …`. */
  instructions: string[];
}

export interface Dockerfile {
  /** `ARG`s before the first FROM, with defaults. */
  globalArgs: Record<string, string | undefined>;
  stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const dockerfile: Dockerfile = { globalArgs: {}, stages: [] };
  for (const line of lines) {
    const [instruction = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (instruction.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(args);
      dockerfile.stages.push({
        from: m?.[1] ?? '',
        name: m?.[2] ?? String(dockerfile.stages.length),
        instructions: [],
      });
    } else if (dockerfile.stages.length === 0 && instruction.toUpperCase() === 'ARG') {
      const [name = '', value] = args.split('=');
      dockerfile.globalArgs[name] = value;
    } else {
      dockerfile.stages
        .at(-1)
        ?.instructions.push(`${instruction.toUpperCase()} ${args.replace(/\s+/g, ' ')}`);
    }
  }
  return dockerfile;
}

export function readDockerfile(repo = REPO_ROOT): Dockerfile {
  return parseDockerfile(readFileSync(join(repo, DOCKERFILE), 'utf8'));
}

export function stage(dockerfile: Dockerfile, name: string): Stage {
  const found = dockerfile.stages.find((s) => s.name === name);
  if (!found) throw new Error(`${DOCKERFILE} has no stage ${name}`);
  return found;
}

/** The shell command of the first RUN of a stage that contains `needle` (BuildKit `--mount` flags removed). */
export function runCommand(s: Stage, needle: string): string {
  const run = s.instructions.find((i) => i.startsWith('RUN ') && i.includes(needle));
  if (!run) throw new Error(`stage ${s.name} has no RUN with ${needle}`);
  return run
    .slice(4)
    .replace(/--mount=\S+\s*/g, '')
    .trim();
}

/** The exec-form array of an instruction (CMD, ENTRYPOINT) of a stage. */
export function execForm(s: Stage, instruction: 'CMD' | 'ENTRYPOINT'): string[] {
  const line = s.instructions.filter((i) => i.startsWith(`${instruction} `)).at(-1);
  if (!line) throw new Error(`stage ${s.name} has no ${instruction}`);
  return JSON.parse(line.slice(instruction.length + 1)) as string[];
}

/** `.dockerignore` patterns, in order; a later `!pattern` re-includes what an earlier one excluded. */
export function readDockerignore(
  repo = REPO_ROOT,
  file = '.dockerignore',
): { pattern: RegExp; include: boolean }[] {
  return readFileSync(join(repo, file), 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((line) => {
      const include = line.startsWith('!');
      const glob = (include ? line.slice(1) : line).replace(/^\/+|\/+$/g, '');
      const source = glob
        .split('/')
        .map((part) =>
          part === '**'
            ? '(?:.*)'
            : part
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\(\?:\.\*\)\//g, '(?:.*/)?');
      // A pattern matching a folder matches everything in it.
      return { pattern: new RegExp(`^${source}(?:/.*)?$`), include };
    });
}

export function isIgnored(path: string, rules: ReturnType<typeof readDockerignore>): boolean {
  let ignored = false;
  for (const rule of rules) if (rule.pattern.test(path)) ignored = !rule.include;
  return ignored;
}

/**
 * Copies the build context Docker would send (the repository less .dockerignore, or less the ignore file
 * of one Dockerfile, `<Dockerfile>.dockerignore`, which BuildKit reads instead) to `dest`.
 */
export function copyBuildContext(dest: string, repo = REPO_ROOT, ignoreFile = '.dockerignore'): string[] {
  const rules = readDockerignore(repo, ignoreFile);
  const copied: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(repo, path);
      if (entry.isDirectory()) {
        if (entry.name === 'node_modules' || entry.name === '.git') continue; // never in the context
        walk(path);
      } else if (entry.isFile() && !isIgnored(rel, rules)) {
        mkdirSync(dirname(join(dest, rel)), { recursive: true });
        copyFileSync(path, join(dest, rel));
        copied.push(rel);
      }
    }
  };
  walk(repo);
  return copied;
}

function packageScripts(repo: string, service: string): Record<string, string> {
  const file = join(repo, 'services', service, 'package.json');
  if (!existsSync(file)) return {};
  return (JSON.parse(readFileSync(file, 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
}

/**
 * The Dockerfile's promises: Node 24 slim, tini as init, a numeric non-root user, HOST=0.0.0.0,
 * EXPOSE of the port, and a CMD that is each service's `start` script; the setup Jobs run each
 * service's `setup` script.
 */
export function checkDockerfile(
  dockerfile: Dockerfile,
  services: readonly string[],
  objects: readonly K8sObject[],
  repo = REPO_ROOT,
): Finding[] {
  const findings: Finding[] = [];
  const at = (message: string) => findings.push({ check: 'docker', object: DOCKERFILE, message });
  const base = dockerfile.globalArgs.NODE_IMAGE ?? dockerfile.stages[0]?.from;
  if (base !== 'node:24-bookworm-slim') at(`base image is ${base}, not node:24-bookworm-slim`);
  const runtime = dockerfile.stages.at(-1);
  if (!runtime) return [{ check: 'docker', object: DOCKERFILE, message: 'no stages' }];
  const all = (s: Stage): string[] => {
    const parent = dockerfile.stages.find((p) => p.name === s.from);
    return [...(parent ? all(parent) : []), ...s.instructions];
  };
  const instructions = all(runtime);
  for (const arg of ['SERVICE', 'PORT']) {
    if (!runtime.instructions.includes(`ARG ${arg}`)) at(`the final stage does not declare ARG ${arg}`);
  }
  const user = instructions
    .filter((i) => i.startsWith('USER '))
    .at(-1)
    ?.slice(5);
  if (!user || !/^[1-9]\d*(:\d+)?$/.test(user))
    at(`the final stage's USER is ${user ?? 'unset'}, not a numeric non-root user`);
  if (!instructions.some((i) => i.startsWith('RUN ') && /apt-get install[^&]*\btini\b/.test(i)))
    at('tini is not installed from apt');
  if (execForm(runtime, 'ENTRYPOINT')[0] !== '/usr/bin/tini') at('the ENTRYPOINT is not tini');
  if (!instructions.some((i) => i.startsWith('ENV ') && /\bHOST=0\.0\.0\.0\b/.test(i)))
    at('HOST=0.0.0.0 is not set');
  if (!instructions.includes('EXPOSE $PORT')) at('EXPOSE $PORT is missing');
  const cmd = execForm(runtime, 'CMD').join(' ');
  for (const service of services) {
    const scripts = packageScripts(repo, service);
    if (scripts.start !== cmd)
      at(`CMD "${cmd}" is not services/${service}'s start script "${scripts.start}"`);
    const job = objects.find((o) => o.kind === 'Job' && o.metadata?.name === `${service}-setup`);
    // `args`, not `command`, so the image's ENTRYPOINT (tini) stays PID 1.
    const command = job?.spec?.template?.spec?.containers?.[0]?.args as string[] | undefined;
    if (!job) {
      findings.push({
        check: 'docker',
        object: `Job/${service}-setup`,
        message: 'missing: migrations and streams are never set up',
      });
    } else if (command?.join(' ') !== scripts.setup) {
      findings.push({
        check: 'docker',
        object: `Job/${service}-setup`,
        message: `runs "${command?.join(' ')}", not services/${service}'s setup script "${scripts.setup}"`,
      });
    }
  }
  return findings;
}
