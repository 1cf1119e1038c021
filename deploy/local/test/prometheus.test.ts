/**
 * `npm start -- --monitoring`: the Prometheus configuration the stack generates passes `promtool check
 * config` (rules file included), and Prometheus started on it against a real test stack sees every
 * service's target up, as a job named after the service, with deploy/monitoring's rules loaded.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import {
  freePort,
  RULES_FILE,
  type RunningPrometheus,
  renderPrometheusConfig,
  SERVICES,
  startPrometheus,
  targetsOf,
} from '../src/index.ts';
import { openTestStack, type TestStack } from './stack-fixture.ts';

function promtool(args: string[]): { ok: boolean; output: string } {
  const result = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}${result.error ?? ''}` };
}

test('the generated config passes promtool check config: a job per service, the rules file loaded', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = renderPrometheusConfig({
    targets: targetsOf([
      { service: 'upload', port: 3001 },
      { service: 'upload', port: 3011 },
      { service: 'media-processing', port: 3002 },
      { service: 'metadata', port: 3003 },
      { service: 'feed', port: 3004 },
      { service: 'notification', port: 3005 },
    ]),
  });
  for (const service of SERVICES) t.regex(config, new RegExp(`job_name: "${service}"`));
  t.regex(config, /targets: \["127\.0\.0\.1:3001", "127\.0\.0\.1:3011"\]/, 'every replica a target');
  t.true(config.includes(JSON.stringify(RULES_FILE)));
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, config);
  const checked = promtool(['check', 'config', file]);
  t.true(checked.ok, checked.output);
  t.regex(checked.output, /instantpost\.rules\.yml/, 'the rules file checked too');
  t.regex(checked.output, /SUCCESS: \d+ rules found/);

  // promtool does read what it is given: a rules file that is not there fails the check.
  writeFileSync(file, config.replace(JSON.stringify(RULES_FILE), JSON.stringify(join(dir, 'missing.yml'))));
  t.false(promtool(['check', 'config', file]).ok);
});

let ns: TestNamespace | undefined;
let running: TestStack | undefined;
let prometheus: RunningPrometheus | undefined;
let storage: string | undefined;

test.after.always(async () => {
  await prometheus?.stop();
  await running?.stop();
  await ns?.close();
  await stopTestInfra();
  if (storage) rmSync(storage, { recursive: true, force: true });
});

interface Target {
  labels: { job: string; instance: string };
  health: string;
  lastError: string;
}

test('Prometheus against a test stack: every service is a target, up, and the rules are loaded', async (t) => {
  ns = await openNamespace({ databases: 2 });
  running = await openTestStack(ns);
  storage = mkdtempSync(join(tmpdir(), 'prometheus-'));
  prometheus = await startPrometheus({
    targets: targetsOf(running.stack.processes),
    workDir: storage,
    storageDir: join(storage, 'data'),
    port: await freePort(),
    intervalSeconds: 1,
    logs: 'file',
  });
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${prometheus?.url}${path}`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { status: string; data: T };
    if (body.status !== 'success') throw new Error(`${path}: ${JSON.stringify(body)}`);
    return body.data;
  };

  let targets: Target[] = [];
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    targets = (await api<{ activeTargets: Target[] }>('/api/v1/targets')).activeTargets;
    if (targets.length === SERVICES.length && targets.every((target) => target.health === 'up')) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  t.deepEqual(
    targets.map((target) => [target.labels.job, target.health, target.lastError]).sort(),
    SERVICES.map((service) => [service, 'up', '']).sort(),
    'one target per service, named after it, scraped without error',
  );
  const ports = new Set(running.stack.processes.map((p) => `127.0.0.1:${p.port}`));
  for (const target of targets) t.true(ports.has(target.labels.instance), target.labels.instance);

  // The alert rules read up{job="<service>"}: the series is there, 1 for each service.
  const up = await api<{ result: { metric: { job: string }; value: [number, string] }[] }>(
    `/api/v1/query?query=${encodeURIComponent('up{job=~"upload|media-processing|metadata|feed|notification"}')}`,
  );
  t.deepEqual(up.result.map((r) => [r.metric.job, r.value[1]]).sort(), SERVICES.map((s) => [s, '1']).sort());

  const rules = await api<{ groups: { file: string; rules: { name: string; type: string }[] }[] }>(
    '/api/v1/rules',
  );
  t.true(rules.groups.length > 0 && rules.groups.every((g) => g.file === RULES_FILE));
  const alerts = rules.groups.flatMap((g) => g.rules.filter((r) => r.type === 'alerting').map((r) => r.name));
  t.true(alerts.includes('InstantPostServiceDown'), alerts.join(', '));

  t.is(await prometheus.stop(), 0, 'Prometheus stops on SIGTERM');
  prometheus = undefined;
});
