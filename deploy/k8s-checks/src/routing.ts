/**
 * Compares where the Ingress sends each public path with where the local gateway
 * (deploy/nginx/nginx.conf.template) sends it. The sample paths come from the gateway's own
 * `location`s (regular expressions expanded into matching examples), so a route added there and
 * not here, or sent to another service, is reported.
 */
import type { Finding, K8sObject } from './types.ts';

/** Where a request ends: a service's name, `s3`, or null when nginx answers it itself (404, health). */
export type Destination = string | null;

interface Location {
  modifier: '' | '=' | '~' | '~*' | '^~';
  pattern: string;
  body: string;
}

/** The `location` blocks of the server in an nginx config (named `@` locations left out). */
export function parseLocations(config: string): Location[] {
  const locations: Location[] = [];
  const start = /location\s+(=|~\*|~|\^~)?\s*("(?:[^"\\]|\\.)*"|[^\s{]+)\s*\{/g;
  for (const match of config.matchAll(start)) {
    const pattern = (match[2] ?? '').replace(/^"(.*)"$/, '$1');
    if (pattern.startsWith('@')) continue;
    let depth = 1;
    let i = (match.index ?? 0) + match[0].length;
    const bodyStart = i;
    for (; i < config.length && depth > 0; i++) {
      if (config[i] === '{') depth++;
      else if (config[i] === '}') depth--;
    }
    locations.push({
      modifier: (match[1] ?? '') as Location['modifier'],
      pattern,
      body: config.slice(bodyStart, i - 1),
    });
  }
  return locations;
}

function destinationOf(location: Location, services: readonly string[]): Destination {
  const target = /proxy_pass\s+([^;]+);/.exec(location.body)?.[1]?.trim();
  if (target === undefined) return null;
  const upstream = /^https?:\/\/([a-z][a-z0-9-]*)(?:[/;]|$)/.exec(target)?.[1];
  if (upstream !== undefined && services.includes(upstream)) return upstream;
  return /s3/i.test(target) ? 's3' : target;
}

/** nginx's choice: exact match, else the longest prefix (final with ^~), else the first regex, else that prefix. */
export function nginxRoute(
  locations: readonly Location[],
  path: string,
  services: readonly string[],
): Destination {
  const exact = locations.find((l) => l.modifier === '=' && l.pattern === path);
  if (exact) return destinationOf(exact, services);
  const prefix = locations
    .filter((l) => (l.modifier === '' || l.modifier === '^~') && path.startsWith(l.pattern))
    .sort((a, b) => b.pattern.length - a.pattern.length)[0];
  if (prefix?.modifier !== '^~') {
    for (const l of locations) {
      if (
        (l.modifier === '~' || l.modifier === '~*') &&
        new RegExp(l.pattern, l.modifier === '~*' ? 'i' : '').test(path)
      ) {
        return destinationOf(l, services);
      }
    }
  }
  return prefix ? destinationOf(prefix, services) : null;
}

/** The Ingress API's matching: Exact first, then the longest Prefix, compared element by element. */
export function ingressRoute(ingresses: readonly K8sObject[], path: string): Destination {
  let best: { length: number; service: string } | undefined;
  for (const ingress of ingresses) {
    for (const rule of ingress.spec?.rules ?? []) {
      for (const p of rule.http?.paths ?? []) {
        const service: string = p.backend?.service?.name;
        if (p.pathType === 'Exact' && p.path === path) return service;
        if (p.pathType !== 'Prefix') continue;
        const prefix = String(p.path).replace(/\/+$/, '');
        const hit = prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
        if (hit && (best === undefined || prefix.length > best.length))
          best = { length: prefix.length, service };
      }
    }
  }
  return best?.service ?? null;
}

/**
 * Example strings a simple regular expression matches: literals, escapes, `[...]` classes with a
 * quantifier, `(a|b)` groups (named or not, optional or not) and the `^`/`$` anchors.
 */
export function examplesOf(pattern: string): string[] {
  let i = 0;
  const alternation = (): string[] => {
    const results: string[] = [];
    let current = sequence();
    results.push(...current);
    while (pattern[i] === '|') {
      i++;
      current = sequence();
      results.push(...current);
    }
    return results;
  };
  const sequence = (): string[] => {
    let results = [''];
    while (i < pattern.length && pattern[i] !== '|' && pattern[i] !== ')') {
      let atom: string[];
      const c = pattern[i] as string;
      if (c === '^' || c === '$') {
        i++;
        atom = [''];
      } else if (c === '(') {
        i++;
        if (pattern[i] === '?') {
          // (?:...) or (?<name>...)
          i = pattern[i + 1] === '<' ? pattern.indexOf('>', i) + 1 : i + 2;
        }
        atom = alternation();
        i++; // ')'
      } else if (c === '[') {
        const end = pattern.indexOf(']', i);
        const cls = pattern.slice(i + 1, end);
        atom = [cls.startsWith('^') ? '_' : cls[0] === '\\' ? (cls[1] ?? '') : (cls[0] ?? '')];
        if (cls[0] === '0' && cls[1] === '-') atom = ['1'];
        i = end + 1;
      } else if (c === '\\') {
        atom = [pattern[i + 1] ?? ''];
        i += 2;
      } else if (c === '.') {
        atom = ['x'];
        i++;
      } else {
        atom = [c];
        i++;
      }
      // Quantifiers: one occurrence (the minimum, or one when the minimum is zero, to keep the example).
      const q = /^(\{(\d+)(?:,\d*)?\}|[+*?])/.exec(pattern.slice(i));
      if (q) {
        i += q[0].length;
        const times = Math.max(1, Number(q[2] ?? 1));
        atom = atom.map((a) => a.repeat(times));
      }
      results = results.flatMap((r) => atom.map((a) => r + a));
    }
    return results;
  };
  return [...new Set(alternation())];
}

/** Paths to try: each location's own path, one below it, and examples of each regex location. */
export function samplePaths(locations: readonly Location[]): string[] {
  const paths = new Set<string>();
  for (const l of locations) {
    if (l.modifier === '~' || l.modifier === '~*') {
      for (const example of examplesOf(l.pattern)) paths.add(example);
    } else if (!l.pattern.includes('{{')) {
      paths.add(l.pattern);
      paths.add(`${l.pattern.replace(/\/$/, '')}/1`);
    }
  }
  return [...paths].filter((p) => p.startsWith('/')).sort();
}

export interface RoutingOptions {
  /** The gateway's nginx config (template placeholders may stay). */
  gateway: string;
  services: readonly string[];
  /** Backends that are nginx servers themselves (the media cache): their config, to follow the request on. */
  proxies?: Record<string, string>;
}

/** Every sample path must reach the same destination through the Ingress as through the local gateway. */
export function checkRouting(objects: readonly K8sObject[], options: RoutingOptions): Finding[] {
  const ingresses = objects.filter((o) => o.kind === 'Ingress');
  const gateway = parseLocations(options.gateway);
  const findings: Finding[] = [];
  for (const path of samplePaths(gateway)) {
    const expected = nginxRoute(gateway, path, options.services);
    let actual = ingressRoute(ingresses, path);
    const proxy = actual === null ? undefined : options.proxies?.[actual];
    if (proxy !== undefined) actual = nginxRoute(parseLocations(proxy), path, options.services);
    if (actual !== expected) {
      findings.push({
        check: 'ingress',
        object: 'Ingress',
        message: `${path} goes to ${actual ?? 'nothing'}, the gateway sends it to ${expected ?? 'nothing'}`,
      });
    }
  }
  return findings;
}
