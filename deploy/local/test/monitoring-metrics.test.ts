/**
 * deploy/monitoring's dashboards and alert rules query only metrics the services export: every metric
 * name in every dashboard expression and every rule expression is in the real /metrics output of the
 * five services (read from `# TYPE` lines, so a labelled counter without samples yet counts; a histogram
 * brings its `_bucket`, `_sum` and `_count`), a recording rule of the rules file, or one of the few
 * series Prometheus and blackbox-exporter make themselves.
 */
import {
  dashboardExpressions,
  metricNames,
  readDashboards,
  readRules,
  servicePorts,
} from '@instantpost/k8s-checks';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { openTestStack, type TestStack } from './stack-fixture.ts';

/** Made by Prometheus (`up`, `ALERTS`) and by blackbox-exporter's probes (`probe_success`), not by a service. */
const NOT_FROM_SERVICES = new Set(['up', 'ALERTS', 'probe_success']);

let ns: TestNamespace;
let running: TestStack;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  running = await openTestStack(ns);
});
test.after.always(async () => {
  await running?.stop();
  await ns?.close();
  await stopTestInfra();
});

/** The metric names of a Prometheus text exposition, from its `# TYPE` lines. */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm) as Iterable<
    [string, string, string]
  >) {
    names.add(name);
    if (type === 'histogram')
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

test("every metric the dashboards and rules query is in the services' real /metrics", async (t) => {
  const exported = new Map<string, string[]>();
  for (const service of Object.keys(servicePorts())) {
    const [replica] = running.stack.replicasOf(service as Parameters<TestStack['stack']['replicasOf']>[0]);
    const response = await fetch(`http://127.0.0.1:${replica?.port}/metrics`);
    t.is(response.status, 200, `${service} /metrics`);
    for (const name of exposedNames(await response.text()))
      exported.set(name, [...(exported.get(name) ?? []), service]);
  }
  t.true(exported.has('http_request_duration_seconds_bucket'));
  t.true(exported.has('instantpost_dlq_events'));

  const rules = readRules().groups.flatMap((g) => g.rules);
  const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
  const queries: [string, string][] = rules.map((r) => [`rule ${r.record ?? r.alert}`, r.expr]);
  const dashboards = readDashboards();
  t.true(dashboards.has('overview.json'));
  for (const [file, dashboard] of dashboards)
    for (const expr of dashboardExpressions(dashboard)) queries.push([`dashboards/${file}`, expr]);
  t.true(queries.length > 50, `${queries.length} expressions`);

  const { unknown, used } = unknownMetrics(queries, exported, recorded);
  t.deepEqual(unknown, [], 'metrics no service exports');
  // The check sees the service metrics of issue 19 in use: each is on a dashboard or in a rule.
  for (const name of [
    'instantpost_uploads_total',
    'instantpost_logins_total',
    'instantpost_media_processing_seconds_bucket',
    'instantpost_fanout_timelines_total',
    'instantpost_fanout_seconds_bucket',
    'instantpost_sse_streams',
    'instantpost_consumer_handle_seconds_bucket',
    'instantpost_consumer_outcomes_total',
    'instantpost_consumer_pending_events',
    'instantpost_outbox_oldest_unsent_seconds',
    'instantpost_dlq_events',
  ])
    t.true(used.has(name), `${name} is queried`);
});

/** Names of `queries` that no service exports, no recording rule records and Prometheus does not make. */
function unknownMetrics(queries: [string, string][], exported: Map<string, unknown>, recorded: Set<string>) {
  const unknown: string[] = [];
  const used = new Set<string>();
  for (const [where, expr] of queries) {
    for (const name of metricNames(expr)) {
      used.add(name);
      if (!exported.has(name) && !recorded.has(name) && !NOT_FROM_SERVICES.has(name))
        unknown.push(`${where}: ${name} (in ${expr})`);
    }
  }
  return { unknown, used };
}

test('a query of a metric no service exports is reported', (t) => {
  const exported = new Map([['instantpost_uploads_total', ['upload']]]);
  const { unknown } = unknownMetrics(
    [
      ['a', 'sum by (outcome) (rate(instantpost_uploads_total[5m]))'],
      ['b', 'instantpost_upload_total / instantpost:x:rate5m'],
      ['c', 'up == 0 or ALERTS'],
    ],
    exported,
    new Set(['instantpost:x:rate5m']),
  );
  t.deepEqual(unknown, ['b: instantpost_upload_total (in instantpost_upload_total / instantpost:x:rate5m)']);
});

test('the name check reads TYPE lines, histogram suffixes included', (t) => {
  const names = exposedNames(
    '# HELP a_total x\n# TYPE a_total counter\n# HELP b_seconds y\n# TYPE b_seconds histogram\nb_seconds_count 1\n',
  );
  t.deepEqual([...names].sort(), [
    'a_total',
    'b_seconds',
    'b_seconds_bucket',
    'b_seconds_count',
    'b_seconds_sum',
  ]);
});
