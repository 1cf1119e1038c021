/**
 * Checks rendered manifests against the code: images, ports, probe paths, environment variables,
 * Secret and ConfigMap keys, Services and Ingress backends, autoscalers (which alone set the count of
 * what they scale), labels, pod security, and pods that roll when their configuration changes.
 */
import { type CodeFacts, requiredVars } from './code.ts';
import { checkRollout, hashedStem } from './rollout.ts';
import { objectName } from './schema.ts';
import type { Finding, K8sObject } from './types.ts';

/** ConfigMaps and Secrets the cluster's operator creates (documented, not rendered): name → keys. */
export interface ExternalConfig {
  configMaps: Record<string, string[]>;
  secrets: Record<string, string[]>;
}

export interface ManifestCheckOptions {
  /** `instantpost/`: an image named `<prefix><service>` is that service's image. */
  imagePrefix: string;
  /** The services the Tiltfile builds images for. */
  builtServices: string[];
  /** Other images the Tiltfile builds under the prefix, which are not services (`web`: static files). */
  builtImages?: string[];
  external?: ExternalConfig;
  /** Dev only: Tilt's live_update writes into the containers. */
  allowWritableRootFilesystem?: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML; each check reads the fields it knows.
type Json = any;

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']);
/** Components of InstantPost's own pods, which get the full security and network rules. */
const OWN_COMPONENTS = new Set(['api', 'worker', 'setup', 'cdn']);
const REQUIRED_LABELS = [
  'app.kubernetes.io/name',
  'app.kubernetes.io/part-of',
  'app.kubernetes.io/component',
];

interface Container {
  workload: K8sObject;
  pod: Json;
  container: Json;
  /** The service whose image this is, when it is one of ours. */
  imageService?: string;
  /** The service this workload runs (`feed`, or `feed-setup`'s `feed`). */
  ownerService?: string;
}

function podSpecOf(workload: K8sObject): Json {
  return workload.spec?.template?.spec;
}

function podLabelsOf(workload: K8sObject): Record<string, string> {
  return workload.spec?.template?.metadata?.labels ?? {};
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function imageRepository(image: string): { repository: string; tag?: string; digest?: string } {
  const [withoutDigest, digest] = image.split('@') as [string, string | undefined];
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  if (colon > slash) {
    return { repository: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1), digest };
  }
  return { repository: withoutDigest, digest };
}

function containersOf(
  objects: readonly K8sObject[],
  facts: CodeFacts,
  options: ManifestCheckOptions,
): Container[] {
  const services = Object.keys(facts.servicePorts);
  const out: Container[] = [];
  for (const workload of objects.filter((o) => WORKLOAD_KINDS.has(o.kind))) {
    const pod = podSpecOf(workload);
    const name = workload.metadata?.name ?? '';
    const ownerService = services.find((s) => name === s || name === `${s}-setup`);
    for (const container of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) {
      const { repository } = imageRepository(String(container.image ?? ''));
      const imageService = repository.startsWith(options.imagePrefix)
        ? repository.slice(options.imagePrefix.length)
        : undefined;
      out.push({ workload, pod, container, imageService, ownerService });
    }
  }
  return out;
}

function checkLabels(objects: readonly K8sObject[]): Finding[] {
  const findings: Finding[] = [];
  for (const object of objects) {
    const labels = object.metadata?.labels ?? {};
    for (const label of REQUIRED_LABELS) {
      if (!labels[label]) {
        findings.push({ check: 'labels', object: objectName(object), message: `no label ${label}` });
      }
    }
    if (labels['app.kubernetes.io/part-of'] && labels['app.kubernetes.io/part-of'] !== 'instantpost') {
      findings.push({ check: 'labels', object: objectName(object), message: 'part-of is not instantpost' });
    }
    if (WORKLOAD_KINDS.has(object.kind)) {
      const podLabels = podLabelsOf(object);
      for (const label of REQUIRED_LABELS) {
        if (!podLabels[label]) {
          findings.push({
            check: 'labels',
            object: objectName(object),
            message: `pod template has no label ${label}`,
          });
        }
      }
    }
  }
  return findings;
}

function checkImages(
  containers: readonly Container[],
  facts: CodeFacts,
  options: ManifestCheckOptions,
): Finding[] {
  const findings: Finding[] = [];
  for (const { workload, container, imageService, ownerService } of containers) {
    const where = `${objectName(workload)} container ${container.name}`;
    const image = String(container.image ?? '');
    if (imageService !== undefined) {
      // A static image (the web client's files and nginx): not a service, none of their checks apply.
      if (options.builtImages?.includes(imageService)) continue;
      if (!(imageService in facts.servicePorts)) {
        findings.push({
          check: 'image',
          object: where,
          message: `image ${image}: no service ${imageService} in SERVICE_PORTS`,
        });
      } else if (!options.builtServices.includes(imageService)) {
        findings.push({
          check: 'image',
          object: where,
          message: `image ${image} is not built by the Tiltfile`,
        });
      }
      if (ownerService !== undefined && imageService !== ownerService) {
        findings.push({
          check: 'image',
          object: where,
          message: `runs ${image}, not the image of ${ownerService}`,
        });
      }
      continue;
    }
    const { tag, digest } = imageRepository(image);
    if (!digest && (!tag || tag === 'latest')) {
      findings.push({ check: 'image', object: where, message: `image ${image} is not pinned to a version` });
    }
  }
  return findings;
}

function containerPort(container: Json, port: string | number | undefined): number | undefined {
  const ports: Json[] = container.ports ?? [];
  if (typeof port === 'number') return ports.some((p) => p.containerPort === port) ? port : undefined;
  return ports.find((p) => p.name === port)?.containerPort;
}

function checkPortsAndProbes(containers: readonly Container[], facts: CodeFacts): Finding[] {
  const findings: Finding[] = [];
  const readyRoute = facts.healthRoutes.find((r) => r.includes('ready'));
  const liveRoutes = facts.healthRoutes.filter((r) => r !== readyRoute);
  for (const { workload, container, imageService, ownerService } of containers) {
    if (workload.kind !== 'Deployment' || imageService === undefined || imageService !== ownerService)
      continue;
    const where = `${objectName(workload)} container ${container.name}`;
    const expected = facts.servicePorts[imageService];
    const http = containerPort(container, 'http');
    if (http !== expected) {
      findings.push({
        check: 'port',
        object: where,
        message: `container port "http" is ${http ?? 'missing'}, but ${imageService} listens on ${expected} (SERVICE_PORTS)`,
      });
    }
    const portEnv = (container.env ?? []).find((e: Json) => e.name === 'PORT');
    if (portEnv?.value !== undefined && Number(portEnv.value) !== http) {
      findings.push({
        check: 'port',
        object: where,
        message: `PORT=${portEnv.value} but the container port is ${http}`,
      });
    }
    for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
      const probe = container[kind];
      if (!probe) {
        findings.push({ check: 'probe', object: where, message: `no ${kind}` });
        continue;
      }
      const get = probe.httpGet;
      if (!get) {
        findings.push({
          check: 'probe',
          object: where,
          message: `${kind} is not an HTTP GET of a health route`,
        });
        continue;
      }
      if (!facts.healthRoutes.includes(get.path)) {
        findings.push({
          check: 'probe',
          object: where,
          message: `${kind} path ${get.path} is not a route of libs/http/src/health.ts (${facts.healthRoutes.join(', ')})`,
        });
      }
      if (containerPort(container, get.port) === undefined) {
        findings.push({
          check: 'probe',
          object: where,
          message: `${kind} port ${get.port} is not a container port`,
        });
      }
      if (kind === 'readinessProbe' && readyRoute && get.path !== readyRoute) {
        findings.push({ check: 'probe', object: where, message: `readinessProbe must use ${readyRoute}` });
      }
      if (kind !== 'readinessProbe' && get.path === readyRoute) {
        findings.push({
          check: 'probe',
          object: where,
          message: `${kind} uses ${readyRoute}, which checks dependencies: use ${liveRoutes.join(' or ')}`,
        });
      }
    }
  }
  return findings;
}

interface KeySource {
  kind: 'ConfigMap' | 'Secret';
  name: string;
  keys: string[] | undefined;
}

function keysOf(
  objects: readonly K8sObject[],
  external: ExternalConfig | undefined,
  kind: 'ConfigMap' | 'Secret',
  name: string,
): KeySource {
  const object = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  if (object)
    return { kind, name, keys: [...Object.keys(object.data ?? {}), ...Object.keys(object.stringData ?? {})] };
  const documented = kind === 'Secret' ? external?.secrets[name] : external?.configMaps[name];
  return { kind, name, keys: documented };
}

function checkEnv(
  objects: readonly K8sObject[],
  containers: readonly Container[],
  facts: CodeFacts,
  options: ManifestCheckOptions,
): Finding[] {
  const findings: Finding[] = [];
  /** envFrom source → the services that load it whole. */
  const loadedBy = new Map<string, { source: KeySource; services: Set<string> }>();
  for (const { workload, container, imageService, ownerService } of containers) {
    const where = `${objectName(workload)} container ${container.name}`;
    // Only a service's own workloads run its code; a Job that borrows an image runs its own script.
    const known =
      imageService !== undefined && imageService === ownerService ? facts.envVars[imageService] : undefined;
    const provided = new Set<string>();
    for (const from of container.envFrom ?? []) {
      const ref = from.configMapRef ?? from.secretRef;
      const kind = from.configMapRef ? 'ConfigMap' : 'Secret';
      const source = keysOf(objects, options.external, kind, ref?.name);
      if (source.keys === undefined) {
        if (!ref?.optional) {
          findings.push({
            check: 'secret',
            object: where,
            message: `envFrom ${kind} ${ref?.name} is neither rendered nor documented`,
          });
        }
        continue;
      }
      for (const key of source.keys) provided.add(`${from.prefix ?? ''}${key}`);
      if (imageService !== undefined && known) {
        const entry = loadedBy.get(`${kind}/${source.name}`) ?? { source, services: new Set<string>() };
        entry.services.add(imageService);
        loadedBy.set(`${kind}/${source.name}`, entry);
      }
    }
    for (const env of container.env ?? []) {
      provided.add(env.name);
      const ref = env.valueFrom?.secretKeyRef ?? env.valueFrom?.configMapKeyRef;
      if (ref) {
        const kind = env.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap';
        const source = keysOf(objects, options.external, kind, ref.name);
        if (source.keys === undefined) {
          findings.push({
            check: 'secret',
            object: where,
            message: `${env.name}: ${kind} ${ref.name} is neither rendered nor documented`,
          });
        } else if (!source.keys.includes(ref.key) && !ref.optional) {
          findings.push({
            check: 'secret',
            object: where,
            message: `${env.name}: ${kind} ${ref.name} has no key ${ref.key}`,
          });
        }
      }
      if (known && !known.has(env.name)) {
        findings.push({ check: 'env', object: where, message: `${env.name} is not read by ${imageService}` });
      }
    }
    if (known && workload.kind === 'Deployment') {
      for (const name of requiredVars(known)) {
        if (!provided.has(name)) {
          const at = known.get(name)?.[0]?.where;
          findings.push({
            check: 'env',
            object: where,
            message: `${name} is required by ${imageService} (${at}) but not set`,
          });
        }
      }
    }
  }
  for (const { source, services } of loadedBy.values()) {
    for (const key of source.keys ?? []) {
      if (![...services].some((s) => facts.envVars[s]?.has(key))) {
        findings.push({
          check: 'env',
          object: `${source.kind}/${source.name}`,
          message: `${key} is not read by any service that loads it (${[...services].sort().join(', ')})`,
        });
      }
    }
  }
  return findings;
}

function checkSecurity(containers: readonly Container[], options: ManifestCheckOptions): Finding[] {
  const findings: Finding[] = [];
  const podsSeen = new Set<K8sObject>();
  for (const { workload, pod, container } of containers) {
    if (!OWN_COMPONENTS.has(podLabelsOf(workload)['app.kubernetes.io/component'] ?? '')) continue;
    const where = objectName(workload);
    if (!podsSeen.has(workload)) {
      podsSeen.add(workload);
      const ctx = pod?.securityContext ?? {};
      if (ctx.runAsNonRoot !== true)
        findings.push({ check: 'security', object: where, message: 'pod runAsNonRoot is not true' });
      if (ctx.seccompProfile?.type !== 'RuntimeDefault') {
        findings.push({
          check: 'security',
          object: where,
          message: 'pod seccompProfile is not RuntimeDefault',
        });
      }
    }
    const cwhere = `${where} container ${container.name}`;
    const ctx = container.securityContext ?? {};
    if (ctx.allowPrivilegeEscalation !== false) {
      findings.push({ check: 'security', object: cwhere, message: 'allowPrivilegeEscalation is not false' });
    }
    if (!(ctx.capabilities?.drop ?? []).includes('ALL')) {
      findings.push({ check: 'security', object: cwhere, message: 'capabilities do not drop ALL' });
    }
    if (ctx.readOnlyRootFilesystem !== true && !options.allowWritableRootFilesystem) {
      findings.push({ check: 'security', object: cwhere, message: 'readOnlyRootFilesystem is not true' });
    }
    const tmp = (container.volumeMounts ?? []).find((m: Json) => m.mountPath === '/tmp');
    const tmpVolume = (pod?.volumes ?? []).find((v: Json) => v.name === tmp?.name);
    if (!tmpVolume?.emptyDir)
      findings.push({ check: 'security', object: cwhere, message: 'no emptyDir at /tmp' });
    if (!container.resources?.requests?.memory || !container.resources?.limits?.memory) {
      findings.push({ check: 'security', object: cwhere, message: 'no memory request and limit' });
    }
  }
  return findings;
}

function checkServicesAndIngress(objects: readonly K8sObject[], facts: CodeFacts): Finding[] {
  const findings: Finding[] = [];
  const workloads = objects.filter((o) => WORKLOAD_KINDS.has(o.kind) && o.kind !== 'Job');
  const services = objects.filter((o) => o.kind === 'Service');
  for (const service of services) {
    const where = objectName(service);
    if (service.spec?.type === 'ExternalName') continue;
    const targets = workloads.filter((w) => matches(service.spec?.selector, podLabelsOf(w)));
    if (targets.length === 0) {
      findings.push({ check: 'port', object: where, message: 'its selector matches no workload' });
      continue;
    }
    for (const port of service.spec?.ports ?? []) {
      for (const target of targets) {
        const resolves = (podSpecOf(target)?.containers ?? []).some(
          (c: Json) => containerPort(c, port.targetPort ?? port.port) !== undefined,
        );
        if (!resolves) {
          findings.push({
            check: 'port',
            object: where,
            message: `port ${port.name ?? port.port}: targetPort ${port.targetPort} is not a port of ${objectName(target)}`,
          });
        }
      }
      const name = service.metadata?.name ?? '';
      if (name in facts.servicePorts && port.name === 'http' && port.port !== facts.servicePorts[name]) {
        findings.push({
          check: 'port',
          object: where,
          message: `port http is ${port.port}, SERVICE_PORTS says ${facts.servicePorts[name]}`,
        });
      }
    }
  }
  for (const ingress of objects.filter((o) => o.kind === 'Ingress')) {
    for (const rule of ingress.spec?.rules ?? []) {
      for (const path of rule.http?.paths ?? []) {
        const backend = path.backend?.service;
        const service = services.find((s) => s.metadata?.name === backend?.name);
        const where = `${objectName(ingress)} path ${path.path}`;
        if (!service) {
          findings.push({ check: 'ingress', object: where, message: `no Service ${backend?.name}` });
          continue;
        }
        const ports: Json[] = service.spec?.ports ?? [];
        const found = backend.port?.name
          ? ports.some((p) => p.name === backend.port.name)
          : ports.some((p) => p.port === backend.port?.number);
        if (!found) {
          findings.push({
            check: 'ingress',
            object: where,
            message: `Service ${backend.name} has no port ${backend.port?.name ?? backend.port?.number}`,
          });
        }
      }
    }
  }
  return findings;
}

function checkScaling(objects: readonly K8sObject[], facts: CodeFacts): Finding[] {
  const findings: Finding[] = [];
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  const scaledBy = new Map<string, string[]>();
  const target = (scaler: K8sObject, name: string | undefined, kind = 'Deployment') => {
    const where = objectName(scaler);
    if (kind !== 'Deployment' || !deployments.some((d) => d.metadata?.name === name)) {
      findings.push({
        check: 'scaling',
        object: where,
        message: `targets ${kind} ${name}, which is not rendered`,
      });
      return;
    }
    scaledBy.set(name ?? '', [...(scaledBy.get(name ?? '') ?? []), where]);
  };
  for (const hpa of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    target(hpa, hpa.spec?.scaleTargetRef?.name, hpa.spec?.scaleTargetRef?.kind);
  }
  for (const scaled of objects.filter((o) => o.kind === 'ScaledObject')) {
    const name: string | undefined = scaled.spec?.scaleTargetRef?.name;
    target(scaled, name, scaled.spec?.scaleTargetRef?.kind ?? 'Deployment');
    for (const trigger of scaled.spec?.triggers ?? []) {
      if (trigger.type !== 'nats-jetstream') continue;
      const meta = trigger.metadata ?? {};
      for (const key of ['natsServerMonitoringEndpoint', 'account', 'stream', 'consumer', 'lagThreshold']) {
        if (!meta[key])
          findings.push({
            check: 'scaling',
            object: objectName(scaled),
            message: `nats-jetstream trigger has no ${key}`,
          });
      }
      if (facts.streams.length > 0 && meta.stream && !facts.streams.includes(meta.stream)) {
        findings.push({
          check: 'scaling',
          object: objectName(scaled),
          message: `stream ${meta.stream} is not one of ${facts.streams.join(', ')} (libs/bus)`,
        });
      }
      const literals = name === undefined ? undefined : facts.literals[name];
      if (meta.consumer && literals && !literals.has(meta.consumer)) {
        findings.push({
          check: 'scaling',
          object: objectName(scaled),
          message: `consumer ${meta.consumer} is not named in services/${name}/src`,
        });
      }
    }
  }
  for (const [deployment, scalers] of scaledBy) {
    const replicas = deployments.find((d) => d.metadata?.name === deployment)?.spec?.replicas;
    if (replicas !== undefined) {
      findings.push({
        check: 'scaling',
        object: `Deployment/${deployment}`,
        message: `sets replicas: ${replicas} while ${scalers.join(', ')} owns the count: every apply would reset it`,
      });
    }
    if (scalers.length > 1) {
      findings.push({
        check: 'scaling',
        object: `Deployment/${deployment}`,
        message: `scaled by more than one autoscaler: ${scalers.join(', ')}`,
      });
    }
  }
  for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
    if (!deployments.some((d) => matches(pdb.spec?.selector?.matchLabels, podLabelsOf(d)))) {
      findings.push({
        check: 'scaling',
        object: objectName(pdb),
        message: 'its selector matches no Deployment',
      });
    }
  }
  return findings;
}

/**
 * Every process of a service that reads NATS_USER connects as its own NATS user: a Deployment as
 * `instantpost-nats-<service>`, its setup Job as `instantpost-nats-setup`, both variables from that
 * Secret (k8s/nats/auth.conf gives each user only its own subjects).
 */
function checkNatsCredentials(
  objects: readonly K8sObject[],
  containers: readonly Container[],
  facts: CodeFacts,
): Finding[] {
  const findings: Finding[] = [];
  // A generated Secret is named by its content hash too: compare the name it was generated under.
  const generatedName = (name: string | undefined) => {
    const secret = objects.find((o) => o.kind === 'Secret' && o.metadata?.name === name);
    return (secret && hashedStem(secret)) ?? name;
  };
  for (const { workload, container, imageService, ownerService } of containers) {
    if (imageService === undefined || imageService !== ownerService) continue;
    if (!facts.envVars[imageService]?.has('NATS_USER')) continue;
    if (workload.kind !== 'Deployment' && workload.kind !== 'Job') continue;
    const where = `${objectName(workload)} container ${container.name}`;
    const secret = workload.kind === 'Job' ? 'instantpost-nats-setup' : `instantpost-nats-${imageService}`;
    for (const name of ['NATS_USER', 'NATS_PASSWORD']) {
      const env = (container.env ?? []).find((e: Json) => e.name === name);
      const ref = env?.valueFrom?.secretKeyRef;
      if (!env) {
        findings.push({
          check: 'nats',
          object: where,
          message: `no ${name}: it would reach NATS without its user`,
        });
      } else if (generatedName(ref?.name) !== secret || ref?.key !== name) {
        findings.push({
          check: 'nats',
          object: where,
          message: `${name} must come from Secret ${secret} key ${name}, not ${ref ? `${ref.name}/${ref.key}` : 'a literal value'}`,
        });
      }
    }
  }
  return findings;
}

/** Every InstantPost pod must be isolated for ingress and egress by at least one NetworkPolicy. */
function checkNetworkPolicies(objects: readonly K8sObject[]): Finding[] {
  const findings: Finding[] = [];
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
  const selects = (policy: K8sObject, labels: Record<string, string>) => {
    const selector = policy.spec?.podSelector ?? {};
    const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
    const byExpressions = (selector.matchExpressions ?? []).every((e: Json) =>
      e.operator === 'In'
        ? e.values.includes(labels[e.key])
        : e.operator === 'Exists'
          ? e.key in labels
          : true,
    );
    return byLabels && byExpressions;
  };
  for (const workload of objects.filter((o) => WORKLOAD_KINDS.has(o.kind))) {
    const labels = podLabelsOf(workload);
    if (!OWN_COMPONENTS.has(labels['app.kubernetes.io/component'] ?? '')) continue;
    for (const type of ['Ingress', 'Egress']) {
      if (!policies.some((p) => selects(p, labels) && (p.spec?.policyTypes ?? []).includes(type))) {
        findings.push({
          check: 'security',
          object: objectName(workload),
          message: `no NetworkPolicy restricts its ${type.toLowerCase()}`,
        });
      }
    }
  }
  return findings;
}

/** Every check of this module on one rendered overlay. */
export function checkManifests(
  objects: readonly K8sObject[],
  facts: CodeFacts,
  options: ManifestCheckOptions,
): Finding[] {
  const containers = containersOf(objects, facts, options);
  return [
    ...checkLabels(objects),
    ...checkImages(containers, facts, options),
    ...checkPortsAndProbes(containers, facts),
    ...checkEnv(objects, containers, facts, options),
    ...checkNatsCredentials(objects, containers, facts),
    ...checkSecurity(containers, options),
    ...checkServicesAndIngress(objects, facts),
    ...checkScaling(objects, facts),
    ...checkNetworkPolicies(objects),
    ...checkRollout(objects),
  ];
}
