/**
 * The Gateway API routes (k8s/components/gateway-api) send every path where the Ingresses do: the same
 * matches (Exact ↔ Exact, PathPrefix ↔ Prefix) to the same Service and port, a parent Gateway that is
 * rendered, and, path by path, the same destination as the local gateway (checkRouting's samples).
 */
import { type Destination, nginxRoute, parseLocations, type RoutingOptions, samplePaths } from './routing.ts';
import { objectName } from './schema.ts';
import type { Finding, K8sObject } from './types.ts';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML
type Json = any;

/** One path match and where it sends the request: `Exact /v1/x → notification:3005`. */
interface RouteEntry {
  type: 'Exact' | 'Prefix';
  path: string;
  service: string;
  port: number | undefined;
  /** The object (and rule) that declares it, for messages. */
  where: string;
}

const key = (e: RouteEntry) => `${e.type} ${e.path} → ${e.service}:${e.port ?? '?'}`;

/** The Ingresses' paths, with named backend ports resolved to numbers through their Service. */
export function ingressEntries(objects: readonly K8sObject[]): RouteEntry[] {
  const services = objects.filter((o) => o.kind === 'Service');
  const entries: RouteEntry[] = [];
  for (const ingress of objects.filter((o) => o.kind === 'Ingress')) {
    for (const rule of ingress.spec?.rules ?? []) {
      for (const p of rule.http?.paths ?? []) {
        const backend = p.backend?.service ?? {};
        const ports: Json[] = services.find((s) => s.metadata?.name === backend.name)?.spec?.ports ?? [];
        const port = backend.port?.number ?? ports.find((x) => x.name === backend.port?.name)?.port;
        entries.push({
          type: p.pathType === 'Exact' ? 'Exact' : 'Prefix',
          path: String(p.path),
          service: backend.name,
          port,
          where: objectName(ingress),
        });
      }
    }
  }
  return entries;
}

/** The HTTPRoutes' path matches (a rule without matches is PathPrefix `/`), and what they cannot express. */
export function httpRouteEntries(objects: readonly K8sObject[]): {
  entries: RouteEntry[];
  findings: Finding[];
} {
  const entries: RouteEntry[] = [];
  const findings: Finding[] = [];
  const gateways = new Set(objects.filter((o) => o.kind === 'Gateway').map((o) => o.metadata?.name));
  for (const route of objects.filter((o) => o.kind === 'HTTPRoute')) {
    const where = objectName(route);
    for (const parent of route.spec?.parentRefs ?? []) {
      if ((parent.kind ?? 'Gateway') === 'Gateway' && !gateways.has(parent.name)) {
        findings.push({
          check: 'gateway',
          object: where,
          message: `its parent Gateway ${parent.name} is not rendered`,
        });
      }
    }
    (route.spec?.rules ?? []).forEach((rule: Json, i: number) => {
      const backends: Json[] = rule.backendRefs ?? [];
      const backend = backends[0];
      if (backends.length !== 1 || (backend.kind ?? 'Service') !== 'Service') {
        findings.push({
          check: 'gateway',
          object: `${where} rule ${i}`,
          message: `sends to ${backends.length} backends: the Ingresses send each path to one Service`,
        });
        return;
      }
      for (const match of rule.matches ?? [{ path: { type: 'PathPrefix', value: '/' } }]) {
        const type = match.path?.type ?? 'PathPrefix';
        if (type !== 'Exact' && type !== 'PathPrefix') {
          findings.push({
            check: 'gateway',
            object: `${where} rule ${i}`,
            message: `a ${type} path match has no Ingress counterpart`,
          });
          continue;
        }
        if (match.method || match.headers || match.queryParams) {
          findings.push({
            check: 'gateway',
            object: `${where} rule ${i}`,
            message: 'matches on method, headers or query: the Ingresses route by path alone',
          });
        }
        entries.push({
          type: type === 'Exact' ? 'Exact' : 'Prefix',
          path: String(match.path?.value ?? '/'),
          service: backend.name,
          port: backend.port,
          where: `${where} rule ${i}`,
        });
      }
    });
  }
  return { entries, findings };
}

/** Gateway API precedence: an Exact match, else the longest PathPrefix by whole segments. */
export function httpRouteRoute(entries: readonly RouteEntry[], path: string): Destination {
  const exact = entries.find((e) => e.type === 'Exact' && e.path === path);
  if (exact) return exact.service;
  let best: RouteEntry | undefined;
  for (const e of entries) {
    if (e.type !== 'Prefix') continue;
    const prefix = e.path.replace(/\/+$/, '');
    const hit = prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
    if (hit && (best === undefined || prefix.length > best.path.replace(/\/+$/, '').length)) best = e;
  }
  return best?.service ?? null;
}

/**
 * The HTTPRoutes against the Ingresses (the same entries both ways) and against the local gateway
 * (every sample path reaches the same destination). Nothing is reported when no HTTPRoute is rendered.
 */
export function checkGatewayApi(objects: readonly K8sObject[], options: RoutingOptions): Finding[] {
  if (!objects.some((o) => o.kind === 'HTTPRoute')) return [];
  const { entries, findings } = httpRouteEntries(objects);
  const ingress = ingressEntries(objects);
  const routeKeys = new Set(entries.map(key));
  const ingressKeys = new Set(ingress.map(key));
  for (const e of ingress) {
    if (!routeKeys.has(key(e)))
      findings.push({
        check: 'gateway',
        object: 'HTTPRoute',
        message: `no match for ${key(e)} (${e.where})`,
      });
  }
  for (const e of entries) {
    if (!ingressKeys.has(key(e)))
      findings.push({
        check: 'gateway',
        object: e.where,
        message: `${key(e)} is not a path of the Ingresses`,
      });
  }
  const gateway = parseLocations(options.gateway);
  for (const path of samplePaths(gateway)) {
    const expected = nginxRoute(gateway, path, options.services);
    let actual = httpRouteRoute(entries, path);
    const proxy = actual === null ? undefined : options.proxies?.[actual];
    if (proxy !== undefined) actual = nginxRoute(parseLocations(proxy), path, options.services);
    if (actual !== expected) {
      findings.push({
        check: 'gateway',
        object: 'HTTPRoute',
        message: `${path} goes to ${actual ?? 'nothing'}, the gateway sends it to ${expected ?? 'nothing'}`,
      });
    }
  }
  return findings;
}
