/**
 * The checks can fail: each test breaks one thing in a copy of the rendered prod overlay (or of the
 * Tiltfile) and asserts that the checker names it.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import {
  checkTiltfile,
  type Finding,
  formatFindings,
  type K8sObject,
  parseTiltfile,
  readTiltfile,
  renderEdited,
  validateSchemas,
} from '../src/index.ts';
import {
  codeFacts,
  find,
  gatewayApiFindings,
  manifestFindings,
  render,
  renderProdWithGatewayApi,
  routingFindings,
} from './helpers.ts';

const PROD = 'k8s/overlays/prod';

function container(objects: K8sObject[], kind: string, name: string) {
  return find(objects, kind, name).spec.template.spec.containers[0];
}

function reports(t: { true(v: boolean, m?: string): void }, findings: Finding[], pattern: RegExp): void {
  t.true(
    findings.some((f) => pattern.test(`[${f.check}] ${f.object}: ${f.message}`)),
    `expected a finding matching ${pattern}, got:\n${formatFindings(findings)}`,
  );
}

test('a container port the service does not listen on', (t) => {
  const objects = render(PROD);
  container(objects, 'Deployment', 'feed').ports[0].containerPort = 8080;
  reports(
    t,
    manifestFindings(PROD, objects),
    /\[port\] Deployment\/feed .*"http" is 8080, but feed listens on 3004/,
  );
});

test('a PORT that disagrees with the container port', (t) => {
  const objects = render(PROD);
  const env = container(objects, 'Deployment', 'metadata').env.find(
    (e: { name: string }) => e.name === 'PORT',
  );
  env.value = '3001';
  reports(t, manifestFindings(PROD, objects), /\[port\] Deployment\/metadata .*PORT=3001/);
});

test('an environment variable the service does not read', (t) => {
  const objects = render(PROD);
  container(objects, 'Deployment', 'notification').env.push({
    name: 'NATS_SERVERS',
    value: 'nats://nats:4222',
  });
  reports(
    t,
    manifestFindings(PROD, objects),
    /\[env\] Deployment\/notification .*NATS_SERVERS is not read by notification/,
  );
});

test('a ConfigMap key no service reads', (t) => {
  const objects = render(PROD);
  const config = find(objects, 'ConfigMap', 'instantpost-config');
  config.data = { ...config.data, REDIS_HOST: 'redis' };
  reports(
    t,
    manifestFindings(PROD, objects),
    /\[env\] ConfigMap\/instantpost-config-\w+: REDIS_HOST is not read/,
  );
});

test('a probe path the service does not serve', (t) => {
  const objects = render(PROD);
  container(objects, 'Deployment', 'upload').readinessProbe.httpGet.path = '/health/ready';
  reports(
    t,
    manifestFindings(PROD, objects),
    /\[probe\] Deployment\/upload .*readinessProbe path \/health\/ready is not a route/,
  );
});

test('a liveness probe that checks dependencies', (t) => {
  const objects = render(PROD);
  container(objects, 'Deployment', 'feed').livenessProbe.httpGet.path = '/readyz';
  reports(t, manifestFindings(PROD, objects), /\[probe\] Deployment\/feed .*livenessProbe uses \/readyz/);
});

test("another service's image, and an image Tilt does not build", (t) => {
  const objects = render(PROD);
  container(objects, 'Deployment', 'feed').image = 'instantpost/metadata:0.1.0';
  container(objects, 'Deployment', 'upload').image = 'instantpost/uploader:0.1.0';
  const findings = manifestFindings(PROD, objects);
  reports(t, findings, /\[image\] Deployment\/feed .*not the image of feed/);
  reports(t, findings, /\[image\] Deployment\/upload .*no service uploader in SERVICE_PORTS/);
});

test('an infrastructure image without a version', (t) => {
  const objects = render(PROD);
  container(objects, 'Deployment', 'media-cache').image = 'nginxinc/nginx-unprivileged';
  reports(t, manifestFindings(PROD, objects), /\[image\] Deployment\/media-cache .*not pinned/);
});

test('a secret key that is neither rendered nor documented', (t) => {
  const objects = render(PROD);
  const env = container(objects, 'Deployment', 'metadata').env.find(
    (e: { name: string }) => e.name === 'SHARD_MAP',
  );
  env.valueFrom.secretKeyRef.key = 'DATABASE_URLS';
  reports(
    t,
    manifestFindings(PROD, objects),
    /\[secret\] Deployment\/metadata .*Secret instantpost-secrets has no key DATABASE_URLS/,
  );
});

test('a required variable the manifests do not set', (t) => {
  const facts = codeFacts();
  const vars = facts.envVars.feed;
  t.truthy(vars);
  vars?.set('FEED_FANOUT_LIMIT', [
    { name: 'FEED_FANOUT_LIMIT', where: 'services/feed/src/config.ts:1', required: true },
  ]);
  try {
    reports(t, manifestFindings(PROD), /\[env\] Deployment\/feed .*FEED_FANOUT_LIMIT is required by feed/);
  } finally {
    vars?.delete('FEED_FANOUT_LIMIT');
  }
});

test('a field the schema does not have, and a wrong type', (t) => {
  const objects = render(PROD);
  const c = container(objects, 'Deployment', 'feed');
  c.readinesProbe = c.readinessProbe;
  find(objects, 'PodDisruptionBudget', 'feed').spec.maxUnavailable = { count: 1 };
  const findings = validateSchemas(objects);
  reports(
    t,
    findings,
    /\[schema\] Deployment\/feed: unknown field \/spec\/template\/spec\/containers\/0\/readinesProbe/,
  );
  reports(t, findings, /\[schema\] PodDisruptionBudget\/feed: .*maxUnavailable/);
});

test('a ScaledObject with a trigger that is not KEDA’s schema', (t) => {
  const objects = render(PROD);
  find(objects, 'ScaledObject', 'media-processing').spec.triggers[0].metadata = 'MEDIA';
  reports(t, validateSchemas(objects), /\[schema\] ScaledObject\/media-processing/);
});

test('a Deployment scaled by both an HPA and KEDA, and a stream that does not exist', (t) => {
  const objects = render(PROD);
  find(objects, 'HorizontalPodAutoscaler', 'upload').spec.scaleTargetRef.name = 'feed';
  find(objects, 'ScaledObject', 'media-processing').spec.triggers[0].metadata.stream = 'UPLOADS';
  const findings = manifestFindings(PROD, objects);
  reports(t, findings, /\[scaling\] Deployment\/feed: scaled by more than one autoscaler/);
  reports(t, findings, /\[scaling\] ScaledObject\/media-processing: stream UPLOADS is not one of/);
});

test('a writable root filesystem and a missing NetworkPolicy', (t) => {
  const objects = render(PROD).filter(
    (o) => !(o.kind === 'NetworkPolicy' && o.metadata?.name === 'instantpost-default-deny'),
  );
  container(objects, 'Deployment', 'upload').securityContext.readOnlyRootFilesystem = false;
  const findings = manifestFindings(PROD, objects);
  reports(
    t,
    findings,
    /\[security\] Deployment\/upload container upload: readOnlyRootFilesystem is not true/,
  );
  reports(t, findings, /\[security\] Job\/upload-setup: no NetworkPolicy restricts its ingress/);
});

test('an Ingress path sent to another service than the gateway sends it', (t) => {
  const objects = render(PROD);
  const api = find(objects, 'Ingress', 'instantpost-api');
  const tags = api.spec.rules[0].http.paths.find((p: { path: string }) => p.path === '/v1/tags');
  tags.backend.service.name = 'feed';
  const findings = routingFindings(objects);
  reports(t, findings, /\/v1\/tags goes to feed, the gateway sends it to metadata/);
});

test('an Ingress that forgets a route, or a backend port the Service lacks', (t) => {
  const objects = render(PROD).filter(
    (o) => !(o.kind === 'Ingress' && o.metadata?.name === 'instantpost-stream'),
  );
  const api = find(objects, 'Ingress', 'instantpost-api');
  api.spec.rules[0].http.paths = api.spec.rules[0].http.paths.filter(
    (p: { path: string }) => p.path !== '/v1/me',
  );
  api.spec.rules[0].http.paths[0].backend.service.port = { name: 'web' };
  reports(t, routingFindings(objects), /\/v1\/me goes to nothing, the gateway sends it to metadata/);
  reports(t, manifestFindings(PROD, objects), /\[ingress\] Ingress\/instantpost-api .*has no port web/);
});

test('a Tiltfile whose ports, paths or resources do not exist', (t) => {
  const tilt = readTiltfile();
  const broken = parseTiltfile(
    tilt.text
      .replace("'feed': 3004", "'feed': 3040")
      .replace("'deploy/docker/Dockerfile'", "'deploy/docker/Dockerfile.dev'")
      .replace("resource_deps=['minio'],", "resource_deps=['minio', 'object-store'],")
      .replace("k8s_resource('redis'", "k8s_resource('valkey'"),
  );
  const findings = checkTiltfile(broken, codeFacts().servicePorts, render('k8s/overlays/dev'));
  reports(t, findings, /\[tilt\] Tiltfile: SERVICES\['feed'\] is 3040, SERVICE_PORTS says 3004/);
  reports(t, findings, /names deploy\/docker\/Dockerfile\.dev, which does not exist/);
  reports(t, findings, /resource_deps: object-store is not a resource/);
  reports(t, findings, /k8s_resource\('valkey'\): no such workload/);
});

test("a Deployment without its NATS credentials, or with another service's", (t) => {
  const objects = render(PROD);
  const feed = container(objects, 'Deployment', 'feed');
  feed.env = feed.env.filter((e: { name: string }) => e.name !== 'NATS_PASSWORD');
  const upload = container(objects, 'Deployment', 'upload');
  upload.env.find((e: { name: string }) => e.name === 'NATS_USER').valueFrom.secretKeyRef.name =
    'instantpost-nats-metadata';
  const setup = container(objects, 'Job', 'metadata-setup');
  setup.env = setup.env.filter((e: { name: string }) => !e.name.startsWith('NATS_'));
  const findings = manifestFindings(PROD, objects);
  reports(t, findings, /\[nats\] Deployment\/feed container feed: no NATS_PASSWORD/);
  reports(
    t,
    findings,
    /\[nats\] Deployment\/upload .*NATS_USER must come from Secret instantpost-nats-upload key NATS_USER, not instantpost-nats-metadata/,
  );
  reports(t, findings, /\[nats\] Job\/metadata-setup container setup: no NATS_USER/);
});

test('generated ConfigMaps and Secrets without the hash of their content, or a changed one not renamed', (t) => {
  const unhashed = renderEdited(PROD, (k8s) => {
    appendFileSync(
      join(k8s, 'base/kustomization.yaml'),
      'generatorOptions:\n  disableNameSuffixHash: true\n',
    );
  });
  reports(
    t,
    manifestFindings(PROD, unhashed),
    /\[rollout\] Deployment\/feed: ConfigMap instantpost-config has no hash of its content in its name/,
  );
  const objects = render(PROD);
  const cache = find(objects, 'ConfigMap', 'media-cache');
  cache.data = { ...cache.data, 'nginx.conf': `${cache.data?.['nginx.conf']}# edited\n` };
  reports(
    t,
    manifestFindings(PROD, objects),
    /\[rollout\] Deployment\/media-cache: ConfigMap media-cache-\w+ has no hash/,
  );
});

test('an autoscaled Deployment that sets replicas, in the manifests or by the overlay', (t) => {
  const objects = render(PROD);
  find(objects, 'Deployment', 'metadata').spec.replicas = 3;
  reports(
    t,
    manifestFindings(PROD, objects),
    /\[scaling\] Deployment\/metadata: sets replicas: 3 while HorizontalPodAutoscaler\/metadata owns the count/,
  );
  const edited = renderEdited(PROD, (k8s) => {
    const file = join(k8s, 'overlays/prod/kustomization.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(/^replicas:\n/m, 'replicas:\n  - name: feed\n    count: 3\n'),
    );
  });
  reports(
    t,
    manifestFindings(PROD, edited),
    /\[scaling\] Deployment\/feed: sets replicas: 3 while ScaledObject\/feed/,
  );
});

test('an HTTPRoute path that differs from the Ingress and the gateway, a missing one, a schema typo', (t) => {
  const objects = renderProdWithGatewayApi();
  const api = find(objects, 'HTTPRoute', 'instantpost-api');
  const metadata = api.spec.rules.find(
    (r: { backendRefs: { name: string }[] }) => r.backendRefs[0]?.name === 'metadata',
  );
  metadata.matches = metadata.matches.filter((m: { path: { value: string } }) => m.path.value !== '/v1/me');
  find(objects, 'HTTPRoute', 'instantpost-stream').spec.rules[0].matches[0].path.type = 'PathPrefix';
  find(objects, 'HTTPRoute', 'instantpost-upload').spec.parentRefs[0].name = 'public';
  const findings = gatewayApiFindings(objects);
  reports(t, findings, /\[gateway\] HTTPRoute: no match for Prefix \/v1\/me → metadata:3003/);
  reports(t, findings, /\/v1\/me goes to nothing, the gateway sends it to metadata/);
  reports(
    t,
    findings,
    /PathPrefix|Prefix \/v1\/notifications\/stream → notification:3005 is not a path of the Ingresses/,
  );
  reports(t, findings, /HTTPRoute\/instantpost-upload: its parent Gateway public is not rendered/);
  find(objects, 'HTTPRoute', 'instantpost-media').spec.rules[0].matches[0].path.type = 'Prefix';
  find(objects, 'Gateway', 'instantpost').spec.listeners[0].protocl = 'HTTP';
  const schema = validateSchemas(objects);
  reports(t, schema, /\[schema\] HTTPRoute\/instantpost-media: .*type/);
  reports(t, schema, /\[schema\] Gateway\/instantpost: unknown field \/spec\/listeners\/0\/protocl/);
});

test('a Tiltfile naming a generated object without generated()', (t) => {
  const tilt = readTiltfile();
  const broken = parseTiltfile(
    tilt.text.replace("objects=generated(['media-cache:configmap'])", "objects=['media-cache:configmap']"),
  );
  t.not(broken.text, tilt.text);
  reports(
    t,
    checkTiltfile(broken, codeFacts().servicePorts, render('k8s/overlays/dev')),
    /objects: media-cache:configmap is not in k8s\/overlays\/dev under that name: list it in generated/,
  );
});
