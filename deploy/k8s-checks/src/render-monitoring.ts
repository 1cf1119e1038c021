/**
 * `node --import tsx deploy/k8s-checks/src/render-monitoring.ts [--check]`: writes the Grafana dashboards
 * (deploy/monitoring/dashboards/, from dashboards.ts) and k8s/components/monitoring's PrometheusRule
 * (from deploy/monitoring/rules/instantpost.rules.yml) and dashboard copies. `--check` writes nothing and
 * exits 1 when a file is stale.
 */
import {
  staleDashboards,
  staleMonitoringCopies,
  writeDashboards,
  writeMonitoringCopies,
} from './monitoring.ts';

if (process.argv.includes('--check')) {
  const stale = [...staleDashboards(), ...staleMonitoringCopies()];
  for (const line of stale) process.stdout.write(`${line}\n`);
  process.stdout.write(
    stale.length === 0 ? 'the monitoring files are current\n' : 'stale: run without --check\n',
  );
  process.exitCode = stale.length === 0 ? 0 : 1;
} else {
  writeDashboards();
  writeMonitoringCopies();
  process.stdout.write('wrote deploy/monitoring/dashboards and k8s/components/monitoring\n');
}
