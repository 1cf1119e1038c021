/**
 * Facts read from the code at check time, never from a list kept here: the services and their ports
 * (SERVICE_PORTS), the environment variables each service's image can read, and the health routes.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The `@instantpost/config` functions whose first argument is a variable's name. */
const VAR_FUNCTIONS = new Set(['str', 'int', 'url', 'bool', 'oneOf', 'custom']);
/** Where each function takes its options object (with `default`). */
const OPTIONS_ARG: Record<string, number> = { oneOf: 2, custom: 2 };

/** One place the code reads an environment variable. */
export interface EnvVarUse {
  name: string;
  /** Repository-relative file and line. */
  where: string;
  /** Declared without a default and not wrapped in `optional(...)`. */
  required: boolean;
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
}

function visit(node: ts.Node, fn: (node: ts.Node) => void): void {
  fn(node);
  ts.forEachChild(node, (child) => visit(child, fn));
}

function stringValue(node: ts.Node | undefined): string | undefined {
  return node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))
    ? node.text
    : undefined;
}

function calleeName(call: ts.CallExpression): string | undefined {
  const callee = call.expression;
  if (ts.isIdentifier(callee)) return callee.text;
  if (ts.isPropertyAccessExpression(callee)) return callee.name.text;
  return undefined;
}

/** `SERVICE_PORTS` in libs/chassis/src/config.ts: service name → port. */
export function servicePorts(repo = REPO_ROOT): Record<string, number> {
  const file = join(repo, 'libs/chassis/src/config.ts');
  const ports: Record<string, number> = {};
  visit(parse(file), (node) => {
    if (!ts.isVariableDeclaration(node) || node.name.getText() !== 'SERVICE_PORTS' || !node.initializer)
      return;
    let init: ts.Expression = node.initializer;
    while (ts.isAsExpression(init) || ts.isSatisfiesExpression(init) || ts.isParenthesizedExpression(init)) {
      init = init.expression;
    }
    if (!ts.isObjectLiteralExpression(init)) return;
    for (const prop of init.properties) {
      if (!ts.isPropertyAssignment(prop) || !ts.isNumericLiteral(prop.initializer)) continue;
      const key = ts.isIdentifier(prop.name) ? prop.name.text : stringValue(prop.name);
      if (key !== undefined) ports[key] = Number(prop.initializer.text);
    }
  });
  if (Object.keys(ports).length === 0) throw new Error(`no SERVICE_PORTS object literal in ${file}`);
  return ports;
}

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'test') out.push(...tsFiles(path));
    } else if (
      entry.name.endsWith('.ts') &&
      !entry.name.endsWith('.test.ts') &&
      !entry.name.endsWith('.d.ts')
    ) {
      out.push(path);
    }
  }
  return out;
}

function hasDefault(options: ts.Expression | undefined): boolean {
  if (options === undefined) return false;
  if (!ts.isObjectLiteralExpression(options)) return true; // not visible here: do not call it required
  return options.properties.some(
    (p) =>
      (ts.isPropertyAssignment(p) || ts.isShorthandPropertyAssignment(p)) && p.name.getText() === 'default',
  );
}

/** The variables one source file reads: `str('NAME', …)` and friends, and `process.env.NAME`. */
export function envVarUsesIn(file: string, repo = REPO_ROOT): EnvVarUse[] {
  const source = parse(file);
  const uses: EnvVarUse[] = [];
  const at = (node: ts.Node) =>
    `${relative(repo, file)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  visit(source, (node) => {
    if (ts.isCallExpression(node)) {
      const fn = calleeName(node);
      const name = stringValue(node.arguments[0]);
      if (
        fn === undefined ||
        !VAR_FUNCTIONS.has(fn) ||
        name === undefined ||
        !/^[A-Z][A-Z0-9_]*$/.test(name)
      ) {
        return;
      }
      const parent = node.parent;
      const optional = ts.isCallExpression(parent) && calleeName(parent) === 'optional';
      const required = !optional && !hasDefault(node.arguments[OPTIONS_ARG[fn] ?? 1]);
      uses.push({ name, where: at(node), required });
    } else if (
      (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) &&
      node.expression.getText() === 'process.env'
    ) {
      const name = ts.isPropertyAccessExpression(node)
        ? node.name.text
        : stringValue(node.argumentExpression);
      if (name !== undefined && /^[A-Z][A-Z0-9_]*$/.test(name))
        uses.push({ name, where: at(node), required: false });
    }
  });
  return uses;
}

/**
 * The service's folder and every workspace it reaches through `dependencies` (never devDependencies):
 * what `turbo prune --production` puts in its image (deploy/docker).
 */
export function workspaceClosure(repo: string, service: string): string[] {
  const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
  const byName = new Map<string, string>();
  for (const glob of readJson(join(repo, 'package.json')).workspaces as string[]) {
    const dirs = glob.endsWith('/*')
      ? readdirSync(join(repo, glob.slice(0, -2)), { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => `${glob.slice(0, -2)}/${d.name}`)
      : [glob];
    for (const dir of dirs) {
      const file = join(repo, dir, 'package.json');
      if (existsSync(file)) byName.set(readJson(file).name, dir);
    }
  }
  const start = `services/${service}`;
  if (!existsSync(join(repo, start, 'package.json'))) throw new Error(`no such service: ${start}`);
  const seen = new Set<string>([start]);
  const queue = [start];
  for (let dir = queue.shift(); dir !== undefined; dir = queue.shift()) {
    for (const dep of Object.keys(readJson(join(repo, dir, 'package.json')).dependencies ?? {})) {
      const depDir = byName.get(dep);
      if (depDir && !seen.has(depDir)) {
        seen.add(depDir);
        queue.push(depDir);
      }
    }
  }
  return [...seen].sort();
}

/**
 * Every variable a service's image can read: in the service's own sources and in those of each
 * workspace lib its image carries (workspaceClosure).
 */
export function envVarsOf(service: string, repo = REPO_ROOT): Map<string, EnvVarUse[]> {
  const vars = new Map<string, EnvVarUse[]>();
  for (const dir of workspaceClosure(repo, service)) {
    for (const file of tsFiles(join(repo, dir, 'src'))) {
      for (const use of envVarUsesIn(file, repo)) vars.set(use.name, [...(vars.get(use.name) ?? []), use]);
    }
  }
  return vars;
}

/** A variable is required when every declaration of it is (one with a default makes it optional). */
export function requiredVars(vars: Map<string, EnvVarUse[]>): string[] {
  return [...vars].filter(([, uses]) => uses.every((u) => u.required)).map(([name]) => name);
}

/** The paths libs/http/src/health.ts registers (`app.get('/healthz', …)`). */
export function healthRoutes(repo = REPO_ROOT): string[] {
  const routes: string[] = [];
  visit(parse(join(repo, 'libs/http/src/health.ts')), (node) => {
    if (ts.isCallExpression(node) && calleeName(node) === 'get') {
      const path = stringValue(node.arguments[0]);
      if (path?.startsWith('/')) routes.push(path);
    }
  });
  return routes;
}

/** Everything the manifest checks compare the manifests with. */
export interface CodeFacts {
  servicePorts: Record<string, number>;
  /** Per service: variable name → where the code reads it. */
  envVars: Record<string, Map<string, EnvVarUse[]>>;
  healthRoutes: string[];
  streams: string[];
  /** Per service: the string literals of its sources. */
  literals: Record<string, Set<string>>;
}

export function readCodeFacts(repo = REPO_ROOT): CodeFacts {
  const ports = servicePorts(repo);
  return {
    servicePorts: ports,
    envVars: Object.fromEntries(Object.keys(ports).map((s) => [s, envVarsOf(s, repo)])),
    healthRoutes: healthRoutes(repo),
    streams: streamNames(repo),
    literals: Object.fromEntries(Object.keys(ports).map((s) => [s, serviceStringLiterals(s, repo)])),
  };
}

/** The JetStream stream names: the keys of `STREAM_SUBJECTS` in libs/bus/src/names.ts. */
export function streamNames(repo = REPO_ROOT): string[] {
  const file = join(repo, 'libs/bus/src/names.ts');
  if (!existsSync(file)) return [];
  const names: string[] = [];
  visit(parse(file), (node) => {
    if (!ts.isVariableDeclaration(node) || node.name.getText() !== 'STREAM_SUBJECTS' || !node.initializer)
      return;
    let init: ts.Expression = node.initializer;
    while (ts.isAsExpression(init) || ts.isSatisfiesExpression(init)) init = init.expression;
    if (!ts.isObjectLiteralExpression(init)) return;
    for (const prop of init.properties) {
      if (prop.name) names.push(ts.isIdentifier(prop.name) ? prop.name.text : (stringValue(prop.name) ?? ''));
    }
  });
  return names.filter(Boolean);
}

/** The string literals in a service's own sources (where its durable consumer names are declared). */
export function serviceStringLiterals(service: string, repo = REPO_ROOT): Set<string> {
  const literals = new Set<string>();
  for (const file of tsFiles(join(repo, 'services', service, 'src'))) {
    visit(parse(file), (node) => {
      const value = stringValue(node);
      if (value !== undefined) literals.add(value);
    });
  }
  return literals;
}

/** One `defineConsumer({ name, subjects })` of a service, as its sources declare it. */
export interface ConsumerDeclaration {
  name: string;
  subjects: string[];
  /** Repository-relative file and line. */
  where: string;
}

/**
 * The durable consumers a service defines: each `defineConsumer` call in services/<service>/src, its
 * `name` a string literal or a `const` naming one in the service's sources, its `subjects` an array of
 * string literals. A declaration this cannot read is returned with the name `?` (so a check fails).
 */
export function consumerDeclarations(service: string, repo = REPO_ROOT): ConsumerDeclaration[] {
  const files = tsFiles(join(repo, 'services', service, 'src')).map((file) => ({
    file,
    source: parse(file),
  }));
  const constants = new Map<string, string>();
  for (const { source } of files) {
    visit(source, (node) => {
      if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name)) {
        const value = stringValue(node.initializer);
        if (value !== undefined) constants.set(node.name.text, value);
      }
    });
  }
  const out: ConsumerDeclaration[] = [];
  for (const { file, source } of files) {
    visit(source, (node) => {
      if (!ts.isCallExpression(node) || calleeName(node) !== 'defineConsumer') return;
      const arg = node.arguments[0];
      if (!arg || !ts.isObjectLiteralExpression(arg)) return;
      const prop = (key: string) =>
        arg.properties.find(
          (p): p is ts.PropertyAssignment => ts.isPropertyAssignment(p) && p.name.getText() === key,
        )?.initializer;
      const nameNode = prop('name');
      const name =
        stringValue(nameNode) ??
        (nameNode && ts.isIdentifier(nameNode) ? constants.get(nameNode.text) : undefined);
      const subjectsNode = prop('subjects');
      const subjects =
        subjectsNode && ts.isArrayLiteralExpression(subjectsNode)
          ? subjectsNode.elements.map((e) => stringValue(e) ?? '?')
          : ['?'];
      const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
      out.push({ name: name ?? '?', subjects, where: `${relative(repo, file)}:${line}` });
    });
  }
  return out;
}
