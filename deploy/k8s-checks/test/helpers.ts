import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CodeFacts,
  checkManifests,
  checkRouting,
  documentedConfig,
  type Finding,
  type K8sObject,
  REPO_ROOT,
  readCodeFacts,
  readTiltfile,
  renderOverlay,
} from '../src/index.ts';

export const OVERLAYS = ['k8s/overlays/dev', 'k8s/overlays/prod'] as const;
export type Overlay = (typeof OVERLAYS)[number];

let facts: CodeFacts | undefined;
export function codeFacts(): CodeFacts {
  facts ??= readCodeFacts();
  return facts;
}

const rendered = new Map<string, K8sObject[]>();
/** The overlay rendered once per test file; tests that change objects work on a copy. */
export function render(overlay: Overlay): K8sObject[] {
  if (!rendered.has(overlay)) rendered.set(overlay, renderOverlay(overlay));
  return structuredClone(rendered.get(overlay) ?? []);
}

export function manifestFindings(overlay: Overlay, objects = render(overlay)): Finding[] {
  const tilt = readTiltfile();
  return checkManifests(objects, codeFacts(), {
    imagePrefix: tilt.imagePrefix,
    builtServices: Object.keys(tilt.services),
    external: documentedConfig(),
    allowWritableRootFilesystem: overlay === 'k8s/overlays/dev',
  });
}

export function routingFindings(objects: K8sObject[]): Finding[] {
  const cache = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === 'media-cache');
  return checkRouting(objects, {
    gateway: readFileSync(join(REPO_ROOT, 'deploy/nginx/nginx.conf.template'), 'utf8'),
    services: Object.keys(codeFacts().servicePorts),
    proxies: { 'media-cache': cache?.data?.['media.conf.template'] ?? '' },
  });
}

/** The first object of a kind and name (throws when missing, so a test cannot pass on nothing). */
export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const object = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  if (!object) throw new Error(`no ${kind}/${name}`);
  return object;
}
