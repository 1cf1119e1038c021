/**
 * Reads the Tiltfile (Starlark) well enough to check it: the SERVICES table, the image prefix, the
 * paths it names, the resources it configures and the dependencies between them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './code.ts';
import { hashedStem } from './rollout.ts';
import type { Finding, K8sObject } from './types.ts';

export interface Tiltfile {
  text: string;
  /** `SERVICES = {'upload': 3001, …}`. */
  services: Record<string, number>;
  imagePrefix: string;
  /** Images it builds besides the services': `docker_build(IMAGE_PREFIX + 'web', …)`. */
  images: string[];
  /** Top-level `NAME = 'value'` assignments. */
  constants: Record<string, string>;
}

export function parseTiltfile(text: string): Tiltfile {
  const services: Record<string, number> = {};
  const table = /^SERVICES\s*=\s*\{([^}]*)\}/m.exec(text)?.[1] ?? '';
  for (const m of table.matchAll(/'([a-z0-9-]+)'\s*:\s*(\d+)/g)) services[m[1] as string] = Number(m[2]);
  const constants: Record<string, string> = {};
  for (const m of text.matchAll(/^([A-Z][A-Z0-9_]*)\s*=\s*'([^']*)'\s*$/gm))
    constants[m[1] as string] = m[2] as string;
  const images = [...text.matchAll(/^docker_build\(\s*IMAGE_PREFIX\s*\+\s*'([a-z0-9-]+)'/gm)].map(
    (m) => m[1] as string,
  );
  return { text, services, imagePrefix: constants.IMAGE_PREFIX ?? '', images, constants };
}

export function readTiltfile(repo = REPO_ROOT): Tiltfile {
  return parseTiltfile(readFileSync(join(repo, 'Tiltfile'), 'utf8'));
}

/** The code without comments, so commented-out lines are not checked. */
function code(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, ''))
    .join('\n');
}

/** String literals, each with `'…%s…' % name` expanded for every service and `% CONSTANT` resolved. */
function literals(tilt: Tiltfile, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/'([^'\n]*)'(\s*%\s*([A-Za-z_]\w*))?/g)) {
    const value = m[1] as string;
    const arg = m[3];
    if (arg === undefined || !value.includes('%')) out.push(value);
    else if (arg in tilt.constants) out.push(value.replace('%s', tilt.constants[arg] as string));
    else if (arg === 'name') for (const s of Object.keys(tilt.services)) out.push(value.replace('%s', s));
    // Other run-time values (the example events' subjects) are not known here.
  }
  return out;
}

/**
 * The resource names a call's keyword argument lists, e.g. `resource_deps=[…]`; `generated` marks the
 * names of a `generated([…])` list, which the Tiltfile resolves to kustomize's hashed names.
 */
function listArgument(tilt: Tiltfile, text: string, keyword: string): { name: string; generated: boolean }[] {
  const names: { name: string; generated: boolean }[] = [];
  for (const m of text.matchAll(new RegExp(`${keyword}\\s*=\\s*(generated\\(\\s*)?\\[([^\\]]*)\\]`, 'g'))) {
    for (const name of literals(tilt, m[2] as string)) names.push({ name, generated: m[1] !== undefined });
  }
  return names;
}

/**
 * The Tiltfile against the code, the repository and the rendered dev overlay: its SERVICES are
 * SERVICE_PORTS, every path it names exists (paths under an `os.path.exists` guard may be missing),
 * every resource it configures is rendered, every resource_dep is a resource, and it parses.
 */
export function checkTiltfile(
  tilt: Tiltfile,
  servicePorts: Record<string, number>,
  devObjects: readonly K8sObject[],
  repo = REPO_ROOT,
): Finding[] {
  const findings: Finding[] = [];
  const at = (message: string) => findings.push({ check: 'tilt', object: 'Tiltfile', message });
  const text = code(tilt.text);

  for (const [service, port] of Object.entries(servicePorts)) {
    if (tilt.services[service] !== port)
      at(`SERVICES['${service}'] is ${tilt.services[service]}, SERVICE_PORTS says ${port}`);
  }
  for (const service of Object.keys(tilt.services)) {
    if (!(service in servicePorts)) at(`SERVICES names ${service}, which is not in SERVICE_PORTS`);
  }
  if (!/docker_build\(\s*IMAGE_PREFIX\s*\+\s*name\b/.test(text))
    at('no docker_build(IMAGE_PREFIX + name, …) for the services');

  // Paths: every token of a string literal that starts with a top-level entry of the repository.
  const top = new Set(readdirSync(repo).filter((e) => e !== 'node_modules' && e !== '.git'));
  const optional = new Set<string>();
  for (const m of text.matchAll(/os\.path\.exists\(\s*(?:'([^']*)'|([A-Z_]+))\s*\)/g)) {
    optional.add(m[1] ?? tilt.constants[m[2] as string] ?? '');
  }
  const checked = new Set<string>();
  for (const literal of literals(tilt, text)) {
    for (const token of literal.split(/\s+/)) {
      const first = token.split('/')[0] ?? '';
      if (token.startsWith('/') || !top.has(first)) continue; // a path in the container, or not a path
      if (checked.has(token) || optional.has(token)) continue;
      checked.add(token);
      if (!existsSync(join(repo, token))) at(`names ${token}, which does not exist`);
    }
  }

  // Resources: workloads and objects it configures must be in the dev render.
  const rendered = new Set(devObjects.map((o) => `${o.metadata?.name}:${o.kind.toLowerCase()}`));
  // Tilt matches names exactly: a generated object is found by its name without the hash only
  // through the Tiltfile's generated([…]).
  const byStem = new Set(
    devObjects.map((o) => `${hashedStem(o) ?? o.metadata?.name}:${o.kind.toLowerCase()}`),
  );
  const workloads = new Set(
    devObjects
      .filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind))
      .map((o) => o.metadata?.name ?? ''),
  );
  const defined = new Set<string>();
  for (const m of text.matchAll(/k8s_resource\(\s*(?:'([^']*)'(\s*%\s*name)?|(name))\s*[,)]/g)) {
    const names = m[3]
      ? Object.keys(tilt.services)
      : m[2]
        ? Object.keys(tilt.services).map((s) => (m[1] ?? '').replace('%s', s))
        : [m[1] ?? ''];
    for (const name of names) {
      defined.add(name);
      if (!workloads.has(name)) at(`k8s_resource('${name}'): no such workload in k8s/overlays/dev`);
    }
  }
  for (const m of text.matchAll(/(?:new_name\s*=|local_resource\()\s*'([^'%]*)'/g))
    defined.add(m[1] as string);
  for (const { name: object, generated } of listArgument(tilt, text, 'objects')) {
    if (generated ? !byStem.has(object) : !rendered.has(object)) {
      const hint = !generated && byStem.has(object) ? ' under that name: list it in generated([…])' : '';
      at(`objects: ${object} is not in k8s/overlays/dev${hint}`);
    }
  }
  for (const { name: dep } of listArgument(tilt, text, 'resource_deps')) {
    if (!defined.has(dep) && !workloads.has(dep)) at(`resource_deps: ${dep} is not a resource`);
  }

  // Starlark is a Python dialect: Python's parser catches syntax errors where one is installed.
  const python = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p));
  if (python) {
    try {
      execFileSync(
        python,
        ['-c', 'import ast,sys; ast.parse(open(sys.argv[1]).read())', join(repo, 'Tiltfile')],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
    } catch (err) {
      at(`does not parse: ${(err as { stderr?: Buffer }).stderr?.toString().trim().split('\n').at(-1)}`);
    }
  }
  return findings;
}
