import test from 'ava';
import {
  checkMonitoring,
  formatFindings,
  type K8sObject,
  renderWithComponent,
  staleDashboards,
  staleMonitoringCopies,
  validateSchemas,
} from '../src/index.ts';
import { find, manifestFindings } from './helpers.ts';

let rendered: Partial<Record<'dev' | 'prod', K8sObject[]>> = {};
/** An overlay with k8s/components/monitoring, rendered once per test file; tests get a copy. */
function withMonitoring(overlay: 'dev' | 'prod'): K8sObject[] {
  rendered = {
    ...rendered,
    [overlay]: rendered[overlay] ?? renderWithComponent(`k8s/overlays/${overlay}`, 'monitoring'),
  };
  return structuredClone(rendered[overlay] ?? []);
}

const isMonitoring = (o: K8sObject) =>
  o.apiVersion.startsWith('monitoring.coreos.com/') || o.metadata?.labels?.grafana_dashboard === '1';

test('the dashboards and the PrometheusRule are the renderings of deploy/monitoring, copied as they are', (t) => {
  t.deepEqual(staleDashboards(), []);
  t.deepEqual(staleMonitoringCopies(), []);
});

for (const overlay of ['dev', 'prod'] as const) {
  test(`${overlay} with the monitoring component: PodMonitors, the PrometheusRule, dashboards and probes agree with the code`, (t) => {
    const objects = withMonitoring(overlay);
    const names = (kind: string) =>
      objects
        .filter((o) => o.kind === kind)
        .map((o) => o.metadata?.name)
        .sort();
    t.deepEqual(names('PodMonitor'), ['feed', 'media-processing', 'metadata', 'notification', 'upload']);
    t.deepEqual(names('PrometheusRule'), ['instantpost']);
    t.deepEqual(names('Probe'), ['instantpost-public', 'instantpost-public-api']);
    t.is(objects.filter((o) => o.metadata?.labels?.grafana_dashboard === '1').length, 6);
    t.is(formatFindings(checkMonitoring(objects)), '');
  });
}

test('the prometheus-operator objects validate against its CRD schemas (@kubernetes-models/prometheus-operator)', (t) => {
  const objects = withMonitoring('prod').filter(isMonitoring);
  t.is(objects.length, 14);
  t.is(formatFindings(validateSchemas(objects)), '');
});

test('the rest of prod still agrees with the code, the Prometheus network policy included', (t) => {
  t.is(formatFindings(manifestFindings('k8s/overlays/prod', withMonitoring('prod'))), '');
});

test('a schema typo, a wrong port or job label, stale rules, a stale or unlabelled dashboard and an unwatched probe are reported', (t) => {
  const objects = withMonitoring('prod');
  const feed = find(objects, 'PodMonitor', 'feed');
  feed.spec.podMetricsEndpoints[0].port = 'metrics';
  feed.spec.jobLabel = 'app.kubernetes.io/component';
  const upload = find(objects, 'PodMonitor', 'upload');
  upload.spec.podMetricEndpoints = upload.spec.podMetricsEndpoints;
  delete upload.spec.podMetricsEndpoints;
  const rule = find(objects, 'PrometheusRule', 'instantpost');
  rule.spec.groups[0].rules.pop();
  const overview = find(objects, 'ConfigMap', 'grafana-dashboard-instantpost-overview');
  overview.data = { 'overview.json': '{}' };
  const metadata = find(objects, 'ConfigMap', 'grafana-dashboard-instantpost-metadata');
  delete metadata.metadata?.labels?.grafana_dashboard;
  find(objects, 'Probe', 'instantpost-public').spec.jobName = 'elsewhere';
  const report = formatFindings([
    ...checkMonitoring(objects),
    ...validateSchemas(objects.filter(isMonitoring)),
  ]);
  t.regex(report, /PodMonitor\/feed: port metrics is not a named port of feed's container/);
  t.regex(report, /PodMonitor\/feed: jobLabel app.kubernetes.io\/component does not name the service/);
  t.regex(report, /PodMonitor\/upload: unknown field \/spec\/podMetricEndpoints/);
  t.regex(report, /PrometheusRule\/instantpost: its groups are not those of deploy\/monitoring\/rules/);
  t.regex(report, /ConfigMap\/grafana-dashboard-instantpost-overview: overview.json differs/);
  t.regex(report, /dashboard metadata.json: 0 ConfigMaps labelled grafana_dashboard/);
  t.regex(report, /Probe\/instantpost-public: no alert reads probe_success\{job="elsewhere"\}/);
});
