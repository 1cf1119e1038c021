/**
 * Pods roll when their configuration changes: a Deployment (StatefulSet, DaemonSet) reads a ConfigMap
 * or Secret of the overlay only through a name that carries kustomize's hash of its content, so a
 * changed value is a new name in the pod template, which the Deployment rolls out. A fixed name is
 * reported unless the object says why it must keep it (annotation ROLLOUT_ANNOTATION).
 */
import { createHash } from 'node:crypto';
import { objectName } from './schema.ts';
import type { Finding, K8sObject } from './types.ts';

/** On a ConfigMap or Secret that must keep a fixed name: who restarts what after a change. */
export const ROLLOUT_ANNOTATION = 'instantpost/rollout';

const LONG_RUNNING = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML
type Json = any;

/** Go's encoding/json: sorted keys, and <, >, & and the two JS line separators escaped. */
function goJson(value: unknown): string {
  const sorted = (v: unknown): unknown =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
        )
      : v;
  return JSON.stringify(sorted(value)).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * kustomize's name suffix for a ConfigMap or Secret with this content (api/hasher): the first ten hex
 * digits of the SHA-256 of its JSON encoding, with 0, 1, 3, a, e swapped for letters. The encoding's
 * `name` is empty: kustomize 5 looks it up as one path element "metadata/name", which finds nothing.
 */
export function kustomizeHash(object: K8sObject): string {
  const encoded: Record<string, unknown> =
    object.kind === 'Secret'
      ? { kind: 'Secret', type: (object as Json).type ?? '', name: '', data: object.data ?? '' }
      : { kind: 'ConfigMap', name: '', data: object.data ?? '' };
  const extra = object.kind === 'Secret' ? object.stringData : (object as Json).binaryData;
  if (extra) encoded[object.kind === 'Secret' ? 'stringData' : 'binaryData'] = extra;
  const hex = createHash('sha256').update(goJson(encoded)).digest('hex').slice(0, 10);
  const swap: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return hex.replace(/[013ae]/g, (c) => swap[c] ?? c);
}

/** The name without kustomize's content hash, when it carries the hash of exactly this content. */
export function hashedStem(object: K8sObject): string | undefined {
  const name = object.metadata?.name ?? '';
  const stem = name.replace(/-[a-z0-9]{10}$/, '');
  return stem !== name && name === `${stem}-${kustomizeHash(object)}` ? stem : undefined;
}

/** The object of this kind named `name`, or `name` plus kustomize's content hash. */
export function findByStem(objects: readonly K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find(
    (o) => o.kind === kind && (o.metadata?.name === name || (hashedStem(o) ?? '') === name),
  );
}

/** Every ConfigMap and Secret a pod template names: env, envFrom, volumes and projected volumes. */
export function configReferences(pod: Json): { kind: 'ConfigMap' | 'Secret'; name: string }[] {
  const refs: { kind: 'ConfigMap' | 'Secret'; name: string }[] = [];
  const add = (kind: 'ConfigMap' | 'Secret', name: unknown) => {
    if (typeof name === 'string' && !refs.some((r) => r.kind === kind && r.name === name))
      refs.push({ kind, name });
  };
  for (const c of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) {
    for (const from of c.envFrom ?? []) {
      add('ConfigMap', from.configMapRef?.name);
      add('Secret', from.secretRef?.name);
    }
    for (const env of c.env ?? []) {
      add('ConfigMap', env.valueFrom?.configMapKeyRef?.name);
      add('Secret', env.valueFrom?.secretKeyRef?.name);
    }
  }
  for (const volume of pod?.volumes ?? []) {
    add('ConfigMap', volume.configMap?.name);
    add('Secret', volume.secret?.secretName);
    for (const source of volume.projected?.sources ?? []) {
      add('ConfigMap', source.configMap?.name);
      add('Secret', source.secret?.name);
    }
  }
  return refs;
}

/**
 * Each ConfigMap or Secret of the overlay that a long-running workload reads must carry the hash of
 * its content in its name (kustomize's generators without `disableNameSuffixHash`), or say in
 * ROLLOUT_ANNOTATION why not. Objects the operator creates (not rendered) are the operator's to roll.
 */
export function checkRollout(objects: readonly K8sObject[]): Finding[] {
  const findings: Finding[] = [];
  for (const workload of objects.filter((o) => LONG_RUNNING.has(o.kind))) {
    for (const ref of configReferences(workload.spec?.template?.spec)) {
      const object = objects.find((o) => o.kind === ref.kind && o.metadata?.name === ref.name);
      if (!object || hashedStem(object) !== undefined) continue;
      if (object.metadata?.annotations?.[ROLLOUT_ANNOTATION]) continue;
      findings.push({
        check: 'rollout',
        object: objectName(workload),
        message: `${ref.kind} ${ref.name} has no hash of its content in its name: a change to it would not roll the pods (generate it without disableNameSuffixHash, or say why in ${ROLLOUT_ANNOTATION})`,
      });
    }
  }
  return findings;
}
