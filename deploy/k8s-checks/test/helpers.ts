import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CodeFacts,
  checkGatewayApi,
  checkManifests,
  checkRouting,
  documentedConfig,
  type Finding,
  findByStem,
  type K8sObject,
  REPO_ROOT,
  readCodeFacts,
  readTiltfile,
  renderOverlay,
  renderWithComponent,
} from '../src/index.ts';
import type { RoutingOptions } from '../src/routing.ts';

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
    builtImages: tilt.images,
    external: documentedConfig(),
    allowWritableRootFilesystem: overlay === 'k8s/overlays/dev',
  });
}

function routingOptions(objects: K8sObject[]): RoutingOptions {
  const cache = findByStem(objects, 'ConfigMap', 'media-cache');
  return {
    gateway: readFileSync(join(REPO_ROOT, 'deploy/nginx/nginx.conf.template'), 'utf8'),
    services: Object.keys(codeFacts().servicePorts),
    proxies: {
      'media-cache': cache?.data?.['media.conf.template'] ?? '',
      // The web client's image serves with this config (deploy/docker/web.Dockerfile copies it in).
      web: readFileSync(join(REPO_ROOT, 'services/web/image/nginx.conf'), 'utf8'),
    },
  };
}

export function routingFindings(objects: K8sObject[]): Finding[] {
  return checkRouting(objects, routingOptions(objects));
}

/** The HTTPRoutes against the Ingresses and the local gateway. */
export function gatewayApiFindings(objects: K8sObject[]): Finding[] {
  return checkGatewayApi(objects, routingOptions(objects));
}

let withGatewayApi: K8sObject[] | undefined;
/** prod with k8s/components/gateway-api, rendered once per test file; tests get a copy. */
export function renderProdWithGatewayApi(): K8sObject[] {
  withGatewayApi ??= renderWithComponent('k8s/overlays/prod', 'gateway-api');
  return structuredClone(withGatewayApi);
}

/**
 * The object of a kind and name, generated ConfigMaps and Secrets by their name without kustomize's hash
 * (throws when missing, so a test cannot pass on nothing).
 */
export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const object = findByStem(objects, kind, name);
  if (!object) throw new Error(`no ${kind}/${name}`);
  return object;
}
