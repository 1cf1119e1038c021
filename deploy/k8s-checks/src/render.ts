import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './code.ts';
import type { ExternalConfig } from './manifests.ts';
import type { K8sObject } from './types.ts';

const KUBECTL_CANDIDATES = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'];

/** kubectl, installed from Debian's packages when missing and running as root (as CI does). */
export function kubectl(): string {
  const found = KUBECTL_CANDIDATES.find((p) => existsSync(p));
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw new Error('kubectl is not installed: sudo apt-get install -y kubectl (or kubernetes-client)');
  }
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  for (const pkg of ['kubectl', 'kubernetes-client']) {
    try {
      execFileSync('apt-get', ['install', '-y', '-qq', pkg], {
        stdio: 'ignore',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
      const installed = KUBECTL_CANDIDATES.find((p) => existsSync(p));
      if (installed) return installed;
    } catch {
      // try the next package name
    }
  }
  throw new Error('could not install kubectl from apt');
}

export function parseManifests(yamlText: string): K8sObject[] {
  return parseAllDocuments(yamlText)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('; '));
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** `kubectl kustomize <dir>`, parsed. Throws with kustomize's message when the overlay does not build. */
export function renderOverlay(dir: string, repo = REPO_ROOT): K8sObject[] {
  const out = execFileSync(kubectl(), ['kustomize', join(repo, dir)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  return parseManifests(out);
}

/**
 * `overlay` rendered from a copy of k8s/ that `edit` changed first (it gets the copy's k8s/ directory):
 * what kustomize would render after an operator's edit, the repository untouched.
 */
export function renderEdited(overlay: string, edit: (k8sDir: string) => void, repo = REPO_ROOT): K8sObject[] {
  const copy = mkdtempSync(join(tmpdir(), 'k8s-checks-'));
  try {
    cpSync(join(repo, 'k8s'), join(copy, 'k8s'), { recursive: true });
    edit(join(copy, 'k8s'));
    return renderOverlay(overlay, copy);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

/** `overlay` with a component of k8s/components added, as k8s/README.md tells an operator to add it. */
export function renderWithComponent(overlay: string, component: string, repo = REPO_ROOT): K8sObject[] {
  return renderEdited(
    overlay,
    (k8s) => {
      const kustomization = join(k8s, '..', overlay, 'kustomization.yaml');
      if (/^components:/m.test(readFileSync(kustomization, 'utf8')))
        throw new Error(`${overlay} already lists components: add ${component} there by hand`);
      appendFileSync(
        kustomization,
        `components:
  - ../../components/${component}
`,
      );
    },
    repo,
  );
}

/**
 * The ConfigMaps and Secrets an operator creates by hand, from the `kubectl create secret generic NAME`
 * and `kubectl create configmap NAME` commands documented in k8s/README.md (`--from-literal=KEY=…`,
 * `--from-file=KEY=…`), so the documented commands are checked against the manifests and the code too.
 */
export function documentedConfig(readme = join(REPO_ROOT, 'k8s/README.md')): ExternalConfig {
  const text = readFileSync(readme, 'utf8').replace(/\\\n/g, ' ');
  const config: ExternalConfig = { configMaps: {}, secrets: {} };
  const command = /kubectl\s+(?:[^\n]*?\s)?create\s+(secret\s+generic|configmap)\s+([a-z0-9.-]+)([^\n]*)/g;
  for (const match of text.matchAll(command)) {
    const [, kind, name, rest] = match as unknown as [string, string, string, string];
    const keys = [...rest.matchAll(/--from-(?:literal|file)=([A-Za-z0-9_.-]+)=/g)].map((m) => m[1] as string);
    const into = kind === 'configmap' ? config.configMaps : config.secrets;
    into[name] = [...(into[name] ?? []), ...keys];
  }
  return config;
}
