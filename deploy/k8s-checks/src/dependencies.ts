/**
 * Each workspace declares exactly what it uses: `dependencies` are the packages its `src/` imports at run
 * time and its run-time scripts load (`node --import tsx …` in `start`, `setup`, operator commands); the
 * `devDependencies` are what only its tests import, what its `src/` imports for types alone, and tools of
 * its dev scripts. Nothing missing (a hoisted package that happens to resolve), nothing unused, nothing
 * in both lists. The image (deploy/docker) installs `dependencies` only, so a run-time import declared
 * as a devDependency would fail there.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { REPO_ROOT } from './code.ts';
import type { Finding } from './types.ts';

/** Scripts that run only on a developer's machine or in CI; every other script runs where the package is deployed. */
const DEV_SCRIPTS = new Set(['test', 'typecheck', 'dev', 'gen', 'lint', 'format', 'build']);
const SOURCE = /\.(?:[cm]?ts|[cm]?js)$/;
const BUILTINS = new Set(builtinModules);

export interface Workspace {
  dir: string;
  name: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
  /** The `exports` map: one with a main entry (`.`) makes a library whose exported types its consumers compile. */
  exports?: Record<string, string>;
  ava?: { nodeArguments?: string[] };
}

/** One import of a file: the package it names and whether only types come from it. */
export interface ImportUse {
  pkg: string;
  typeOnly: boolean;
  /** A type-only import whose names appear in the file's exported declarations (their consumers need it). */
  exportedType: boolean;
}

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`; undefined for relative paths and builtins. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:'))
    return undefined;
  const parts = specifier.split('/');
  const pkg = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
  return BUILTINS.has(pkg) ? undefined : pkg;
}

/**
 * The text of the file's exported declarations, where a type of another package reaches the consumers:
 * whole exported interfaces, type aliases and classes, exported functions' signatures (up to the line that
 * their body's brace) and exported constants' first line.
 */
function exportedText(code: string): string {
  const spans: string[] = [];
  for (const m of code.matchAll(
    /^export\s+(?:declare\s+|default\s+|abstract\s+)*(interface|type|class|async function|function|const|let)\b/gm,
  )) {
    const start = m.index ?? 0;
    const kind = m[1] as string;
    if (kind.endsWith('function')) {
      spans.push(/^[\s\S]*?\)\s*(?::[^{=;]*)?\{/.exec(code.slice(start))?.[0] ?? '');
    } else if (kind === 'const' || kind === 'let') {
      spans.push(code.slice(start, code.indexOf('\n', start)));
    } else {
      // To the declaration's end: its closing brace at depth 0, or (a type alias) the first `;` outside braces.
      let depth = 0;
      let i = start;
      for (; i < code.length; i++) {
        const c = code[i];
        if (c === '{') depth++;
        else if (c === '}' && --depth === 0 && kind !== 'type') break;
        else if (c === ';' && depth === 0) break;
      }
      spans.push(code.slice(start, i + 1));
    }
  }
  return spans.join('\n');
}

/** The local names an import clause binds: `a`, `* as a`, `{ a, type b as c }`. */
function localNames(clause: string): string[] {
  const braces = /\{([^}]*)\}/.exec(clause)?.[1] ?? '';
  const named = braces
    .split(',')
    .map(
      (n) =>
        n
          .trim()
          .replace(/^type\s+/, '')
          .split(/\s+as\s+/)
          .at(-1) ?? '',
    )
    .filter(Boolean);
  const outside = clause.replace(/\{[^}]*\}/, '').replace(/^type\s+/, '');
  const namespace = /\*\s+as\s+([\w$]+)/.exec(outside)?.[1];
  const fallback = /^\s*([\w$]+)/.exec(outside)?.[1];
  return [...named, ...(namespace ? [namespace] : fallback ? [fallback] : [])];
}

/** Every import, re-export, dynamic import and require of a file's code. */
export function importsOf(source: string): ImportUse[] {
  // Template literals may hold code that is not this file's (fixtures, generated text).
  const code = source.replace(/`(?:\\[\s\S]|[^`\\])*`/g, '``');
  const uses: ImportUse[] = [];
  const exported = exportedText(code);
  const statement =
    /^\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s*['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm;
  for (const m of code.matchAll(statement)) {
    const specifier = m[4] ?? m[5] ?? '';
    const pkg = packageOf(specifier);
    if (!pkg) continue;
    const clause = m[3] ?? '';
    const names =
      /\{([^}]*)\}/
        .exec(clause)?.[1]
        ?.split(',')
        .map((n) => n.trim())
        .filter(Boolean) ?? [];
    const allTypes =
      names.length > 0 && !/^\s*[\w$]+\s*,/.test(clause) && names.every((n) => n.startsWith('type '));
    const typeOnly = m[5] === undefined && (m[2] !== undefined || allTypes);
    const exportedType =
      typeOnly &&
      (m[1] === 'export' ||
        localNames(clause).some((n) => new RegExp(`(^|[^\\w$])${n.replace('$', '\\$')}\\b`).test(exported)));
    uses.push({ pkg, typeOnly, exportedType });
  }
  for (const m of code.matchAll(/\b(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const pkg = packageOf(m[1] as string);
    if (pkg) uses.push({ pkg, typeOnly: false, exportedType: false });
  }
  return uses;
}

function filesUnder(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const path = join(dir, e);
    if (e === 'node_modules') return [];
    return statSync(path).isDirectory() ? filesUnder(path) : SOURCE.test(e) ? [path] : [];
  });
}

/** The packages a script line loads: `--import X`, `--import=X`, `--require X`, `--loader X`. */
function scriptModules(script: string): string[] {
  return [...script.matchAll(/--(?:import|require|loader)[=\s]+([^\s'"]+)/g)]
    .map((m) => packageOf(m[1] as string))
    .filter((p): p is string => p !== undefined);
}

/** The bin names each package of node_modules offers (for tools named in scripts). */
function binsOf(pkg: string, repo: string): string[] {
  try {
    const manifest = JSON.parse(readFileSync(join(repo, 'node_modules', pkg, 'package.json'), 'utf8'));
    if (typeof manifest.bin === 'string') return [pkg.split('/').at(-1) as string];
    return Object.keys(manifest.bin ?? {});
  } catch {
    return [];
  }
}

/** The workspaces of the root package.json (`libs/*`, `services/*`, `deploy/local`, …). */
export function readWorkspaces(repo = REPO_ROOT): Workspace[] {
  const root = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
  const dirs = (root.workspaces as string[]).flatMap((pattern) =>
    pattern.endsWith('/*')
      ? readdirSync(join(repo, pattern.slice(0, -2))).map((d) => `${pattern.slice(0, -2)}/${d}`)
      : [pattern],
  );
  return dirs
    .filter((dir) => {
      try {
        return statSync(join(repo, dir, 'package.json')).isFile();
      } catch {
        return false;
      }
    })
    .map((dir) => {
      const manifest = JSON.parse(readFileSync(join(repo, dir, 'package.json'), 'utf8'));
      return {
        dir,
        name: manifest.name,
        dependencies: manifest.dependencies ?? {},
        devDependencies: manifest.devDependencies ?? {},
        scripts: manifest.scripts ?? {},
        exports: typeof manifest.exports === 'string' ? { '.': manifest.exports } : manifest.exports,
        ava: manifest.ava,
      };
    });
}

/** What a workspace uses, by kind: `runtime` needs `dependencies`, `dev` needs `devDependencies`, `tools` may be either. */
export function usesOf(
  ws: Workspace,
  repo = REPO_ROOT,
): { runtime: Set<string>; dev: Set<string>; tools: Set<string> } {
  const runtime = new Set<string>();
  const dev = new Set<string>();
  const tools = new Set<string>();
  const read = (file: string) => importsOf(readFileSync(file, 'utf8'));
  // A library (an exports map with a main entry) hands its exported types to the packages that import it;
  // a service's harness subpath serves only benchmarks and tests.
  const library = ws.exports?.['.'] !== undefined;
  // A `./testing` subpath (fixtures for other packages' tests) is imported by tests only.
  const testing = new Set(
    Object.entries(ws.exports ?? {})
      .filter(([subpath]) => subpath === './testing' || subpath.startsWith('./testing/'))
      .map(([, target]) => join(repo, ws.dir, target)),
  );
  for (const file of filesUnder(join(repo, ws.dir, 'src'))) {
    for (const use of read(file)) {
      const runsInProduction = !testing.has(file) && (!use.typeOnly || (library && use.exportedType));
      (runsInProduction ? runtime : dev).add(use.pkg);
    }
  }
  for (const file of filesUnder(join(repo, ws.dir, 'test'))) for (const use of read(file)) dev.add(use.pkg);
  for (const [name, script] of Object.entries(ws.scripts)) {
    const devScript = DEV_SCRIPTS.has(name);
    for (const pkg of scriptModules(script)) (devScript ? dev : runtime).add(pkg);
    // A tool run by name (`ava`, `tsc`): in a dev script the root provides the shared ones, so it may be
    // declared or not; in a run-time script it is a dependency.
    for (const pkg of [...Object.keys(ws.dependencies), ...Object.keys(ws.devDependencies)]) {
      if (binsOf(pkg, repo).some((bin) => new RegExp(`(^|[\\s&|;])${bin}(\\s|$)`).test(script)))
        (devScript ? tools : runtime).add(pkg);
    }
  }
  for (const arg of ws.ava?.nodeArguments ?? []) for (const pkg of scriptModules(arg)) tools.add(pkg);
  for (const set of [runtime, dev, tools]) set.delete(ws.name);
  return { runtime, dev, tools };
}

/** `@types/x` is used when `x` is (or, for `@types/node`, when any Node builtin may be). */
function typesUsed(pkg: string, used: Set<string>): boolean {
  const of = pkg.slice('@types/'.length);
  return of === 'node' || used.has(of.includes('__') ? `@${of.replace('__', '/')}` : of);
}

export function checkDependencies(workspaces: readonly Workspace[], repo = REPO_ROOT): Finding[] {
  const findings: Finding[] = [];
  for (const ws of workspaces) {
    const at = (message: string) =>
      findings.push({ check: 'dependencies', object: `${ws.dir}/package.json`, message });
    const { runtime, dev, tools } = usesOf(ws, repo);
    const all = new Set([...runtime, ...dev, ...tools]);
    for (const pkg of [...runtime].sort()) {
      if (pkg in ws.dependencies) continue;
      at(
        pkg in ws.devDependencies
          ? `${pkg} is used at run time (src/ or a run-time script) but is a devDependency: make it a dependency`
          : `${pkg} is used at run time (src/ or a run-time script) but not declared`,
      );
    }
    for (const pkg of [...dev].sort()) {
      if (runtime.has(pkg) || pkg in ws.dependencies || pkg in ws.devDependencies) continue;
      at(`${pkg} is imported by tests or for types but not declared: add it to devDependencies`);
    }
    for (const pkg of Object.keys(ws.dependencies).sort()) {
      if (pkg in ws.devDependencies) at(`${pkg} is both a dependency and a devDependency`);
      else if (!runtime.has(pkg))
        at(
          dev.has(pkg) || tools.has(pkg)
            ? `${pkg} is a dependency but only tests, types or dev tools use it: make it a devDependency`
            : `${pkg} is a dependency nothing uses`,
        );
    }
    for (const pkg of Object.keys(ws.devDependencies).sort()) {
      if (pkg in ws.dependencies) continue; // reported above
      if (pkg.startsWith('@types/') ? typesUsed(pkg, all) : all.has(pkg)) continue;
      at(`${pkg} is a devDependency nothing uses`);
    }
  }
  return findings;
}
