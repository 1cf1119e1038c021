import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import {
  metricNames,
  REPO_ROOT,
  RULES_FILE,
  RULES_TEST_FILE,
  runPromtool,
  uncoveredAlerts,
} from '../src/index.ts';

test('promtool check rules accepts the rules file', (t) => {
  const { ok, output } = runPromtool(['check', 'rules', RULES_FILE]);
  t.true(ok, output);
  t.regex(output, /SUCCESS/);
});

test('promtool test rules: every case of the rules tests passes', (t) => {
  const { ok, output } = runPromtool(['test', 'rules', RULES_TEST_FILE]);
  t.true(ok, output);
});

test('every alert has a case where it fires and one where it stays quiet', (t) => {
  const rules = parse(readFileSync(join(REPO_ROOT, RULES_FILE), 'utf8'));
  const tests = parse(readFileSync(join(REPO_ROOT, RULES_TEST_FILE), 'utf8'));
  t.true(
    rules.groups.flatMap((g: { rules: { alert?: string }[] }) => g.rules.filter((r) => r.alert)).length >= 8,
  );
  t.deepEqual(uncoveredAlerts(rules, tests), []);
  const trimmed = {
    tests: tests.tests.map((c: { alert_rule_test?: { alertname: string }[] }) => ({
      ...c,
      alert_rule_test: c.alert_rule_test?.filter((a) => a.alertname !== 'InstantPostDeadLetters'),
    })),
  };
  t.deepEqual(uncoveredAlerts(rules, trimmed), [
    'InstantPostDeadLetters: no case where it fires',
    'InstantPostDeadLetters: no case where it stays quiet',
  ]);
});

test('a broken rule or a wrong expectation fails promtool', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rules = readFileSync(join(REPO_ROOT, RULES_FILE), 'utf8');
  copyFileSync(join(REPO_ROOT, RULES_TEST_FILE), join(dir, 'instantpost.rules.test.yml'));
  writeFileSync(join(dir, 'instantpost.rules.yml'), rules.replace('> 60', '> 6000'));
  const wrong = runPromtool(['test', 'rules', 'instantpost.rules.test.yml'], dir);
  t.false(wrong.ok);
  t.regex(wrong.output, /InstantPostOutboxStale/);
  writeFileSync(
    join(dir, 'instantpost.rules.yml'),
    rules.replace('max by (service) (', 'max by (service) ((('),
  );
  const broken = runPromtool(['check', 'rules', 'instantpost.rules.yml'], dir);
  t.false(broken.ok);
});

test('metric names are read from PromQL without functions, labels, keywords or variables', (t) => {
  t.deepEqual(
    metricNames(
      'histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket{route!~"/healthz|/readyz",service=~"$service"}[$__rate_interval])))',
    ),
    ['http_request_duration_seconds_bucket'],
  );
  t.deepEqual(
    metricNames(
      'instantpost:http_errors:rate5m / on (service) group_left instantpost:http_requests:rate5m > bool 0',
    ),
    ['instantpost:http_errors:rate5m', 'instantpost:http_requests:rate5m'],
  );
  t.deepEqual(metricNames('max(instantpost_dlq_events) or vector(0)'), ['instantpost_dlq_events']);
  t.deepEqual(metricNames('up{job=~"feed"} == 0 unless absent(foo_total offset 5m)'), ['up', 'foo_total']);
});
