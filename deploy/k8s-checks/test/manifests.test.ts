import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import {
  formatFindings,
  type K8sObject,
  renderEdited,
  renderWithComponent,
  validateSchemas,
} from '../src/index.ts';
import { codeFacts, find, manifestFindings, OVERLAYS, render, routingFindings } from './helpers.ts';

/**
 * Variables the manifests set that no service reads yet: the local stack (deploy/local/src/main.ts)
 * already passes them and the services are gaining them. Each entry must still be reported — when the
 * code starts reading one, this test fails until it is removed here — and nothing else may be.
 */
const AWAITING_CODE: string[] = [];

for (const overlay of OVERLAYS) {
  test(`${overlay} renders with kubectl kustomize`, (t) => {
    const objects = render(overlay);
    t.true(objects.length > 20, `only ${objects.length} objects`);
    for (const kind of ['Deployment', 'Service', 'Job', 'Ingress', 'NetworkPolicy', 'PodDisruptionBudget']) {
      t.true(
        objects.some((o) => o.kind === kind),
        `no ${kind}`,
      );
    }
    t.true(objects.every((o) => o.metadata?.namespace === 'instantpost' || o.kind === 'Namespace'));
  });

  test(`${overlay}: every object validates against the schema of its apiVersion and kind`, (t) => {
    const findings = validateSchemas(render(overlay));
    t.is(formatFindings(findings), '');
  });

  test(`${overlay}: images, ports, probes, env vars and secret keys agree with the code`, (t) => {
    const lines = formatFindings(manifestFindings(overlay)).split('\n').filter(Boolean);
    const awaited = (line: string) => AWAITING_CODE.some((gap) => line.startsWith(gap));
    const unexpected = lines.filter((l) => !awaited(l));
    t.is(unexpected.join('\n'), '', 'findings');
    const stale = AWAITING_CODE.filter(
      (gap) =>
        !lines.some((l) => l.startsWith(gap)) &&
        !(overlay === 'k8s/overlays/dev' && gap.startsWith('[scaling]')),
    );
    t.is(stale.join('\n'), '', 'AWAITING_CODE entries the code now satisfies: remove them');
    if (lines.length > 0) t.log(`awaiting the code:\n${lines.join('\n')}`);
  });

  test(`${overlay}: the Ingress routes every public path as the local gateway does`, (t) => {
    t.is(formatFindings(routingFindings(render(overlay))), '');
  });
}

test('prod runs NATS streams with three replicas and dev with one', (t) => {
  const replicas = (overlay: (typeof OVERLAYS)[number]) =>
    find(render(overlay), 'ConfigMap', 'instantpost-config').data?.NATS_STREAM_REPLICAS;
  t.is(replicas('k8s/overlays/prod'), '3');
  t.is(replicas('k8s/overlays/dev'), '1');
});

test('dev shards over two Postgres databases', (t) => {
  const secret = find(render('k8s/overlays/dev'), 'Secret', 'instantpost-secrets');
  const shardMap = Buffer.from(secret?.data?.SHARD_MAP ?? '', 'base64').toString();
  t.regex(shardMap, /^0-7=postgres:\/\/[^;]+\/instantpost_0;8-15=postgres:\/\/[^;]+\/instantpost_1$/);
});

test('a changed setting rolls exactly the pods that read it', (t) => {
  const templates = (objects: K8sObject[]) =>
    new Map(
      objects
        .filter((o) => o.kind === 'Deployment')
        .map((o) => [o.metadata?.name ?? '', JSON.stringify(o.spec.template)]),
    );
  const before = templates(render('k8s/overlays/prod'));
  const after = templates(
    renderEdited('k8s/overlays/prod', (k8s) => {
      const env = join(k8s, 'base/config.env');
      writeFileSync(env, readFileSync(env, 'utf8').replace(/^LOG_LEVEL=.*$/m, 'LOG_LEVEL=warn'));
    }),
  );
  const services = Object.keys(codeFacts().servicePorts);
  for (const [name, template] of before) {
    if (services.includes(name)) t.not(after.get(name), template, `${name} would not roll`);
    else t.is(after.get(name), template, `${name} does not read instantpost-config but would roll`);
  }
});

for (const overlay of OVERLAYS) {
  test(`${overlay}: autoscalers alone set the count of what they scale`, (t) => {
    const objects = render(overlay);
    const scaled = objects
      .filter((o) => o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject')
      .map((o) => o.spec.scaleTargetRef.name);
    t.true(scaled.length >= (overlay === 'k8s/overlays/prod' ? 5 : 3));
    for (const name of scaled) t.is(find(objects, 'Deployment', name).spec.replicas, undefined, name);
  });
}

for (const overlay of OVERLAYS) {
  test(`${overlay} with components/media-node-pool: media-processing alone runs on the media pool`, (t) => {
    const objects = renderWithComponent(overlay, 'media-node-pool');
    t.is(formatFindings(validateSchemas(objects)), '');
    const before = render(overlay);
    for (const deployment of objects.filter((o) => o.kind === 'Deployment')) {
      const name = deployment.metadata?.name ?? '';
      const pod = deployment.spec.template.spec;
      if (name === 'media-processing') {
        t.deepEqual(pod.nodeSelector, { 'instantpost.io/pool': 'media' });
        t.deepEqual(pod.tolerations, [
          { key: 'instantpost.io/pool', operator: 'Equal', value: 'media', effect: 'NoSchedule' },
        ]);
      } else {
        t.deepEqual(deployment, find(before, 'Deployment', name), `${name} is unchanged`);
      }
    }
  });
}
