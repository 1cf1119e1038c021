import { runCommand } from '@instantpost/testing';
import test from 'ava';

const SETUP = new URL('./fixtures/setup-command.ts', import.meta.url);

test("a service's setup command: --help prints its usage, an unknown option exits 2 naming it", (t) => {
  const help = runCommand(SETUP, ['--help']);
  t.is(help.status, 0, help.stderr);
  t.regex(help.stdout, /^usage: npm run setup -w @instantpost\/feed -- \[--create-databases\]$/m);
  t.regex(help.stdout, /--create-databases +create the physical databases/);
  const unknown = runCommand(SETUP, ['--create-database']);
  t.is(unknown.status, 2);
  t.regex(unknown.stderr, /Unknown option '--create-database'/);
});
