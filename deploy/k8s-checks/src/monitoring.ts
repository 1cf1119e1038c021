/**
 * deploy/monitoring: the Prometheus rules (checked and unit-tested by promtool), their coverage by the
 * tests (every alert fires in one case and stays quiet in another), the metric names the rules and the
 * dashboards query, and k8s/components/monitoring's copies of both (the PrometheusRule is generated from
 * the rules file, the dashboard ConfigMaps' files are copies; `writeMonitoringCopies`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse, stringify } from 'yaml';
import { REPO_ROOT, servicePorts } from './code.ts';
import { dashboardJson, dashboards } from './dashboards.ts';
import { objectName } from './schema.ts';
import type { Finding, K8sObject } from './types.ts';

export const MONITORING_DIR = 'deploy/monitoring';
export const RULES_FILE = `${MONITORING_DIR}/rules/instantpost.rules.yml`;
export const RULES_TEST_FILE = `${MONITORING_DIR}/rules/instantpost.rules.test.yml`;
export const DASHBOARDS_DIR = `${MONITORING_DIR}/dashboards`;
export const MONITORING_COMPONENT = 'k8s/components/monitoring';
export const PROMETHEUS_RULE_FILE = `${MONITORING_COMPONENT}/prometheus-rule.yaml`;
export const COMPONENT_DASHBOARDS_DIR = `${MONITORING_COMPONENT}/dashboards`;

const PROMTOOL_CANDIDATES = ['/usr/bin/promtool', '/usr/local/bin/promtool'];

/** promtool, from Debian's `prometheus` package (installed as root when missing, as CI runs). */
export function promtool(): string {
  const found = PROMTOOL_CANDIDATES.find((p) => existsSync(p));
  if (found) return found;
  if (process.getuid?.() !== 0)
    throw new Error('promtool is not installed: sudo apt-get install -y prometheus');
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  execFileSync('apt-get', ['install', '-y', '-qq', 'prometheus'], {
    stdio: 'ignore',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  const installed = PROMTOOL_CANDIDATES.find((p) => existsSync(p));
  if (!installed) throw new Error('could not install promtool (Debian package prometheus)');
  return installed;
}

/** `promtool <args>` in `cwd`: its exit status and everything it printed. */
export function runPromtool(args: string[], cwd = REPO_ROOT): { ok: boolean; output: string } {
  const run = spawnSync(promtool(), args, { cwd, encoding: 'utf8' });
  return { ok: run.status === 0, output: `${run.stdout ?? ''}${run.stderr ?? ''}` };
}

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML
type Json = any;

export interface Rule {
  record?: string;
  alert?: string;
  expr: string;
}

export function readRules(file = join(REPO_ROOT, RULES_FILE)): { groups: { name: string; rules: Rule[] }[] } {
  return parse(readFileSync(file, 'utf8'));
}

/**
 * Alerts of the rules file without a promtool case that expects them to fire, or without one that
 * expects them quiet (`exp_alerts: []`).
 */
export function uncoveredAlerts(rules: Json, tests: Json): string[] {
  const alerts = rules.groups.flatMap((g: Json) =>
    g.rules.filter((r: Rule) => r.alert).map((r: Rule) => r.alert),
  );
  const cases = (tests.tests ?? []).flatMap((t: Json) => t.alert_rule_test ?? []);
  const missing: string[] = [];
  for (const alert of alerts) {
    const mine = cases.filter((c: Json) => c.alertname === alert);
    if (!mine.some((c: Json) => (c.exp_alerts ?? []).length > 0))
      missing.push(`${alert}: no case where it fires`);
    if (!mine.some((c: Json) => (c.exp_alerts ?? []).length === 0))
      missing.push(`${alert}: no case where it stays quiet`);
  }
  return missing;
}

const KEYWORDS = new Set(
  'by without on ignoring group_left group_right bool and or unless offset inf nan'.split(' '),
);

/**
 * The metric names a PromQL expression reads: identifiers that are not functions (followed by `(`),
 * keywords, label names (inside `{…}` or the parentheses of by/without/on/ignoring/group_*), strings,
 * durations or Grafana variables (`$service`, `$__rate_interval`).
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = match as unknown as [string, string, string | undefined];
    if (call || KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

/** Every PromQL expression of a Grafana dashboard (panel targets, nested rows, template variable queries). */
export function dashboardExpressions(dashboard: Json): string[] {
  const exprs: string[] = [];
  const panels = (list: Json[] = []) => {
    for (const panel of list) {
      for (const target of panel.targets ?? []) if (target.expr) exprs.push(String(target.expr));
      panels(panel.panels);
    }
  };
  panels(dashboard.panels);
  for (const variable of dashboard.templating?.list ?? []) {
    const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    if (variable.type === 'query' && query)
      exprs.push(String(query).replace(/^label_values\((.*),[^,]*\)$/, '$1'));
  }
  return exprs;
}

export function readDashboards(dir = join(REPO_ROOT, DASHBOARDS_DIR)): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort())
    out.set(file, JSON.parse(readFileSync(join(dir, file), 'utf8')));
  return out;
}

const HEADER = `# GENERATED from deploy/monitoring/rules/instantpost.rules.yml by
# \`node --import tsx deploy/k8s-checks/src/render-monitoring.ts\`: edit the rules file, not this one
# (deploy/k8s-checks fails when they differ).
`;

/** The PrometheusRule carrying the rules file's groups, as k8s/components/monitoring applies it. */
export function prometheusRuleYaml(rulesText = readFileSync(join(REPO_ROOT, RULES_FILE), 'utf8')): string {
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'instantpost',
      labels: { 'app.kubernetes.io/name': 'instantpost-rules', 'app.kubernetes.io/component': 'monitoring' },
    },
    spec: { groups: parse(rulesText).groups },
  };
  return HEADER + stringify(rule, { lineWidth: 0 });
}

/** What `writeMonitoringCopies` would change: files of the component that are stale, missing or extra. */
export function staleMonitoringCopies(repo = REPO_ROOT): string[] {
  const stale: string[] = [];
  const read = (file: string) =>
    existsSync(join(repo, file)) ? readFileSync(join(repo, file), 'utf8') : undefined;
  if (read(PROMETHEUS_RULE_FILE) !== prometheusRuleYaml(readFileSync(join(repo, RULES_FILE), 'utf8')))
    stale.push(`${PROMETHEUS_RULE_FILE} is not the rendering of ${RULES_FILE}`);
  const sources = readdirSync(join(repo, DASHBOARDS_DIR)).filter((f) => f.endsWith('.json'));
  for (const file of sources) {
    if (read(`${COMPONENT_DASHBOARDS_DIR}/${file}`) !== read(`${DASHBOARDS_DIR}/${file}`))
      stale.push(`${COMPONENT_DASHBOARDS_DIR}/${file} differs from ${DASHBOARDS_DIR}/${file}`);
  }
  const copies = existsSync(join(repo, COMPONENT_DASHBOARDS_DIR))
    ? readdirSync(join(repo, COMPONENT_DASHBOARDS_DIR))
    : [];
  for (const file of copies.filter((f) => !sources.includes(f)))
    stale.push(`${COMPONENT_DASHBOARDS_DIR}/${file} has no source in ${DASHBOARDS_DIR}`);
  return stale;
}

/** Writes the PrometheusRule and the dashboard copies of k8s/components/monitoring. */
export function writeMonitoringCopies(repo = REPO_ROOT): void {
  writeFileSync(
    join(repo, PROMETHEUS_RULE_FILE),
    prometheusRuleYaml(readFileSync(join(repo, RULES_FILE), 'utf8')),
  );
  rmSync(join(repo, COMPONENT_DASHBOARDS_DIR), { recursive: true, force: true });
  mkdirSync(join(repo, COMPONENT_DASHBOARDS_DIR), { recursive: true });
  for (const file of readdirSync(join(repo, DASHBOARDS_DIR)).filter((f) => f.endsWith('.json')))
    writeFileSync(join(repo, COMPONENT_DASHBOARDS_DIR, file), readFileSync(join(repo, DASHBOARDS_DIR, file)));
}

/** Dashboards of deploy/monitoring/dashboards that are not what dashboards.ts renders (or not rendered). */
export function staleDashboards(repo = REPO_ROOT): string[] {
  const stale: string[] = [];
  const wanted = dashboards();
  const dir = join(repo, DASHBOARDS_DIR);
  for (const [file, dashboard] of wanted) {
    const path = join(dir, file);
    // Compared as JSON: the files are formatted as Biome formats JSON (writeDashboards runs it).
    if (
      !existsSync(path) ||
      !isDeepStrictEqual(JSON.parse(readFileSync(path, 'utf8')), JSON.parse(dashboardJson(dashboard)))
    )
      stale.push(`${DASHBOARDS_DIR}/${file} is not the rendering of deploy/k8s-checks/src/dashboards.ts`);
  }
  const present = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
  for (const file of present.filter((f) => !wanted.has(f)))
    stale.push(`${DASHBOARDS_DIR}/${file} is not rendered by dashboards.ts`);
  return stale;
}

export function writeDashboards(repo = REPO_ROOT): void {
  const dir = join(repo, DASHBOARDS_DIR);
  mkdirSync(dir, { recursive: true });
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) rmSync(join(dir, file));
  for (const [file, dashboard] of dashboards()) writeFileSync(join(dir, file), dashboardJson(dashboard));
  spawnSync('npx', ['--no-install', 'biome', 'format', '--write', dir], { cwd: repo, stdio: 'ignore' });
}

/**
 * k8s/components/monitoring as rendered: a PodMonitor per service selecting its pods on a named port of
 * its container, `job` from the label that names the service; the PrometheusRule carrying exactly the rules
 * file's groups; a ConfigMap labelled for Grafana's sidecar carrying each dashboard file as it is; every
 * Probe's job watched by an alert on `probe_success`. Nothing is reported when no monitoring object is rendered.
 */
export function checkMonitoring(objects: readonly K8sObject[], repo = REPO_ROOT): Finding[] {
  const monitoring = objects.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/'));
  if (monitoring.length === 0) return [];
  const findings: Finding[] = [];
  const report = (object: string, message: string) => findings.push({ check: 'monitoring', object, message });
  const podMonitors = monitoring.filter((o) => o.kind === 'PodMonitor');
  for (const service of Object.keys(servicePorts(repo))) {
    const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata?.name === service);
    const podLabels: Record<string, string> = deployment?.spec?.template?.metadata?.labels ?? {};
    const ports = new Set<string>(
      (deployment?.spec?.template?.spec?.containers ?? []).flatMap((c: Json) =>
        (c.ports ?? []).map((p: Json) => p.name),
      ),
    );
    const selects = (m: K8sObject) =>
      Object.entries(m.spec?.selector?.matchLabels ?? {}).every(([k, v]) => podLabels[k] === v) &&
      Object.keys(m.spec?.selector?.matchLabels ?? {}).length > 0;
    const mine = podMonitors.filter(selects);
    if (mine.length !== 1) {
      report(`Deployment/${service}`, `${mine.length} PodMonitors select its pods (want 1)`);
      continue;
    }
    const monitor = mine[0] as K8sObject;
    const where = objectName(monitor);
    if (podLabels[monitor.spec?.jobLabel] !== service)
      report(
        where,
        `jobLabel ${monitor.spec?.jobLabel} does not name the service: up{job="${service}"} would be missing`,
      );
    for (const endpoint of monitor.spec?.podMetricsEndpoints ?? []) {
      if (!ports.has(endpoint.port))
        report(where, `port ${endpoint.port} is not a named port of ${service}'s container`);
      if ((endpoint.path ?? '/metrics') !== '/metrics')
        report(where, `scrapes ${endpoint.path}, the services serve /metrics`);
    }
    if ((monitor.spec?.podMetricsEndpoints ?? []).length === 0) report(where, 'no podMetricsEndpoints');
  }
  for (const monitor of podMonitors.filter(
    (m) => !objects.some((o) => o.kind === 'Deployment' && o.metadata?.name === m.metadata?.name),
  ))
    report(objectName(monitor), 'selects no service of SERVICE_PORTS');

  const rules = readRules(join(repo, RULES_FILE));
  const prometheusRules = monitoring.filter((o) => o.kind === 'PrometheusRule');
  if (prometheusRules.length !== 1) report('PrometheusRule', `${prometheusRules.length} rendered (want 1)`);
  for (const rule of prometheusRules) {
    if (!isDeepStrictEqual(rule.spec?.groups, rules.groups))
      report(objectName(rule), `its groups are not those of ${RULES_FILE} (run render-monitoring.ts)`);
  }

  const dashboardMaps = objects.filter(
    (o) => o.kind === 'ConfigMap' && o.metadata?.labels?.grafana_dashboard === '1',
  );
  for (const file of readdirSync(join(repo, DASHBOARDS_DIR)).filter((f) => f.endsWith('.json'))) {
    const text = readFileSync(join(repo, DASHBOARDS_DIR, file), 'utf8');
    const carriers = dashboardMaps.filter((m) => m.data?.[file] !== undefined);
    if (carriers.length !== 1)
      report(
        `dashboard ${file}`,
        `${carriers.length} ConfigMaps labelled grafana_dashboard: "1" carry it (want 1)`,
      );
    for (const m of carriers)
      if (m.data?.[file] !== text) report(objectName(m), `${file} differs from ${DASHBOARDS_DIR}/${file}`);
  }

  const probeJobs = rules.groups
    .flatMap((g) => g.rules)
    .filter((r) => r.alert && /\bprobe_success\b/.test(r.expr))
    .flatMap((r) => [...r.expr.matchAll(/job="([^"]+)"/g)].map((m) => m[1]));
  for (const probe of monitoring.filter((o) => o.kind === 'Probe')) {
    const job = probe.spec?.jobName;
    if (!probeJobs.includes(job)) report(objectName(probe), `no alert reads probe_success{job="${job}"}`);
    if ((probe.spec?.targets?.staticConfig?.static ?? []).length === 0)
      report(objectName(probe), 'probes no URL');
  }
  if (!monitoring.some((o) => o.kind === 'Probe'))
    report('Probe', 'no blackbox-exporter Probe of the public endpoints');
  return findings;
}
