/**
 * Production runs the NATS the tests run: the NATS images of the dev overlay, prod's Helm values and the
 * tests' container fallback must be of the same major.minor line as the nats-server the tests start
 * (Debian's package). A server of another line would run code paths (2.10's `filter_subjects`, …) no
 * test has exercised.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './code.ts';
import type { Finding, K8sObject } from './types.ts';

/** Where a NATS server version is chosen, and which. */
export interface NatsVersionUse {
  where: string;
  version: string;
}

const line = (version: string) => /^v?(\d+)\.(\d+)/.exec(version)?.slice(1, 3).join('.');

/** The versions the manifests and the tests' container fallback run: image tags like `2.9.24-alpine`. */
export function natsVersionsInUse(devObjects: readonly K8sObject[], repo = REPO_ROOT): NatsVersionUse[] {
  const uses: NatsVersionUse[] = [];
  for (const workload of devObjects.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment')) {
    for (const c of workload.spec?.template?.spec?.containers ?? []) {
      const tag = /^(?:docker\.io\/)?(?:library\/)?nats:([^@]+)$/.exec(String(c.image))?.[1];
      if (tag)
        uses.push({ where: `k8s/overlays/dev ${workload.kind}/${workload.metadata?.name}`, version: tag });
    }
  }
  const values = parse(readFileSync(join(repo, 'k8s/overlays/prod/nats-values.yaml'), 'utf8'));
  uses.push({
    where: 'k8s/overlays/prod/nats-values.yaml container.image.tag',
    version: String(values?.container?.image?.tag ?? 'the chart default (unpinned)'),
  });
  const testing = join(repo, 'libs/testing/src');
  for (const file of readdirSync(testing).filter((f) => f.endsWith('.ts'))) {
    for (const m of readFileSync(join(testing, file), 'utf8').matchAll(/NatsContainer\('nats:([^']+)'\)/g)) {
      uses.push({ where: `libs/testing/src/${file}`, version: m[1] as string });
    }
  }
  return uses;
}

/** Each use must be of the tested server's major.minor line. */
export function checkNatsVersions(tested: string, uses: readonly NatsVersionUse[]): Finding[] {
  const testedLine = line(tested);
  return uses
    .filter((u) => line(u.version) !== testedLine)
    .map((u) => ({
      check: 'nats' as const,
      object: u.where,
      message: `runs NATS ${u.version}, but the tests run nats-server ${tested}: pin the ${testedLine} line or test on ${u.version}`,
    }));
}
