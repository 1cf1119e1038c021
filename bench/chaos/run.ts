/**
 * `npm run chaos`: the chaos scenario (deploy/local/test/chaos-scenario.ts) at full size — 100 users,
 * 1,000 small photo uploads, follows, likes and comments while every service is SIGKILLed once, NATS and
 * Postgres restart and Redis is down for 10 s — then the end state checked against every acknowledgement.
 * Prints progress and the figures and writes them to RELIABILITY.md; exits 1 if anything was lost or
 * duplicated. `npm run chaos -- --ci` runs the CI test's size instead.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stopTestInfra } from '@instantpost/testing';
import { CI_SIZE, FULL_SIZE, renderReport, runChaos } from '../../deploy/local/test/chaos-scenario.ts';

const ci = process.argv.includes('--ci');
const size = ci ? CI_SIZE : FULL_SIZE;
const command = ci ? 'npm run chaos -- --ci' : 'npm run chaos';
const log = (line: string) => process.stdout.write(`${line}\n`);

try {
  const report = await runChaos(size, { log, convergeTimeoutMs: 600_000 });
  const target = fileURLToPath(new URL('../../RELIABILITY.md', import.meta.url));
  writeFileSync(target, renderReport(report, command));
  // Formatted as Biome formats every Markdown file of the repository (aligned tables), so lint stays clean.
  spawnSync('npx', ['--no-install', 'biome', 'format', '--write', target], { stdio: 'ignore' });
  log(`\n${readFileSync(target, 'utf8')}`);
  log('written to RELIABILITY.md');
  process.exitCode = report.problems.length === 0 ? 0 : 1;
} finally {
  await stopTestInfra();
}
