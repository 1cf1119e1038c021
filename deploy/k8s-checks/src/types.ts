/** A rendered Kubernetes object, as parsed from YAML (only what the checks read is typed). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: the shape depends on the kind; each check reads what it needs.
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** One problem a check found: which check, in which object, and what. */
export interface Finding {
  check:
    | 'schema'
    | 'image'
    | 'port'
    | 'probe'
    | 'env'
    | 'secret'
    | 'ingress'
    | 'scaling'
    | 'security'
    | 'labels'
    | 'tilt'
    | 'docker'
    | 'nats'
    | 'rollout'
    | 'gateway'
    | 'monitoring'
    | 'dependencies';
  object: string;
  message: string;
}

/** Renders findings one per line, for assertion messages and the CLI. */
export function formatFindings(findings: readonly Finding[]): string {
  return findings.map((f) => `[${f.check}] ${f.object}: ${f.message}`).join('\n');
}
