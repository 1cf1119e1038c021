import { runCommand } from '@instantpost/testing';
import test from 'ava';

const RENDER = new URL('../src/render-nats-auth.ts', import.meta.url);

test('npm run nats:auth: --help prints its usage, --check reports the file current, an unknown option exits 2', (t) => {
  const help = runCommand(RENDER, ['--help']);
  t.is(help.status, 0, help.stderr);
  t.regex(help.stdout, /^usage: npm run nats:auth -- \[--check\]$/m);
  const check = runCommand(RENDER, ['--check']);
  t.is(check.status, 0, check.stdout);
  t.regex(check.stdout, /auth\.conf is current/);
  const unknown = runCommand(RENDER, ['--dry-run']);
  t.is(unknown.status, 2);
  t.regex(unknown.stderr, /Unknown option '--dry-run'/);
});
