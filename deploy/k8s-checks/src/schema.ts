import * as gatewayApi from '@kubernetes-models/gateway-api';
import * as keda from '@kubernetes-models/keda';
import * as prometheusOperator from '@kubernetes-models/prometheus-operator';
import * as kubernetes from 'kubernetes-models';
import type { Finding, K8sObject } from './types.ts';

/** A model class of kubernetes-models: `validate()` runs the JSON Schema of its apiVersion/kind on `this`. */
interface ModelClass {
  apiVersion: string;
  kind: string;
  prototype: { validate(this: unknown): void };
}

function isModelClass(value: unknown): value is ModelClass {
  return (
    typeof value === 'function' &&
    typeof (value as Partial<ModelClass>).apiVersion === 'string' &&
    typeof (value as Partial<ModelClass>).kind === 'string'
  );
}

/** Every top-level kind the packages know, by `apiVersion/kind`; the modules nest group → version → class. */
function collectModels(module: unknown, into: Map<string, ModelClass>, depth = 0): Map<string, ModelClass> {
  if (depth > 3 || module === null || typeof module !== 'object') return into;
  for (const value of Object.values(module)) {
    if (isModelClass(value)) into.set(`${value.apiVersion}/${value.kind}`, value);
    else collectModels(value, into, depth + 1);
  }
  return into;
}

let models: Map<string, ModelClass> | undefined;

function modelFor(apiVersion: string, kind: string): ModelClass | undefined {
  models ??= collectModels(
    prometheusOperator,
    collectModels(gatewayApi, collectModels(keda, collectModels(kubernetes, new Map()))),
  );
  return models.get(`${apiVersion}/${kind}`);
}

interface Tracked {
  /** Keys the validator looked up on this object. */
  readonly read: Set<string>;
  /** The validator enumerated the keys (a map such as labels): every key is known. */
  enumerated: boolean;
}

/**
 * Wraps `data` so that every property the validator reads is recorded. The Kubernetes schemas do
 * not forbid unknown fields (the API server drops them with a warning), so a typo such as
 * `readinesProbe` would pass; a field the schema never looked at in an object whose other fields it
 * did read is such a typo.
 */
function tracking(data: unknown, seen: Map<object, Tracked>): unknown {
  if (data === null || typeof data !== 'object') return data;
  const node: Tracked = { read: new Set(), enumerated: false };
  seen.set(data, node);
  const children = new Map<PropertyKey, unknown>();
  return new Proxy(data, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof key !== 'string') return value;
      node.read.add(key);
      if (value === null || typeof value !== 'object') return value;
      if (!children.has(key)) children.set(key, tracking(value, seen));
      return children.get(key);
    },
    has(target, key) {
      if (typeof key === 'string') node.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      node.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

function unknownFields(data: unknown, seen: Map<object, Tracked>, path: string, out: string[]): void {
  if (data === null || typeof data !== 'object') return;
  const node = seen.get(data);
  if (Array.isArray(data)) {
    data.forEach((item, i) => {
      unknownFields(item, seen, `${path}/${i}`, out);
    });
    return;
  }
  if (node === undefined) return; // the schema did not look inside (free-form)
  for (const [key, value] of Object.entries(data)) {
    if (!node.enumerated && node.read.size > 0 && !node.read.has(key)) out.push(`${path}/${key}`);
    else unknownFields(value, seen, `${path}/${key}`, out);
  }
}

/**
 * What the API server decodes: kustomize wraps long base64 Secret values over lines, which Go's
 * base64 decoder accepts (it skips line breaks) but the schema's `byte` format does not.
 */
function asDecoded(object: K8sObject): K8sObject {
  if (object.kind !== 'Secret' || !object.data) return object;
  const data = Object.fromEntries(
    Object.entries(object.data).map(([k, v]) => [k, String(v).replace(/[\r\n]/g, '')]),
  );
  return { ...object, data };
}

export function objectName(object: K8sObject): string {
  return `${object.kind}/${object.metadata?.name ?? '?'}`;
}

/**
 * Validates each object against the JSON Schema of its apiVersion/kind (Kubernetes' own schemas from
 * kubernetes-models, KEDA's CRDs from @kubernetes-models/keda, the Gateway API's from
 * @kubernetes-models/gateway-api, the prometheus-operator's from @kubernetes-models/prometheus-operator) and reports fields the schema does not have.
 */
export function validateSchemas(objects: readonly K8sObject[]): Finding[] {
  const findings: Finding[] = [];
  for (const object of objects) {
    const where = objectName(object);
    const model = modelFor(object.apiVersion, object.kind);
    if (!model) {
      findings.push({
        check: 'schema',
        object: where,
        message: `no schema for ${object.apiVersion} ${object.kind}`,
      });
      continue;
    }
    const seen = new Map<object, Tracked>();
    const decoded = asDecoded(object);
    try {
      model.prototype.validate.call(tracking(decoded, seen));
    } catch (err) {
      findings.push({
        check: 'schema',
        object: where,
        message: err instanceof Error ? err.message : String(err),
      });
    }
    const unknown: string[] = [];
    unknownFields(decoded, seen, '', unknown);
    for (const field of unknown) {
      findings.push({ check: 'schema', object: where, message: `unknown field ${field}` });
    }
  }
  return findings;
}
