import { runCommand } from '@instantpost/testing';
import test from 'ava';

const SWEEP = new URL('../src/sweep.ts', import.meta.url);

test('sweep: --help prints its options; an unknown option or a too short age exits 2 naming it', (t) => {
  const help = runCommand(SWEEP, ['--help']);
  t.is(help.status, 0, help.stderr);
  t.regex(help.stdout, /^usage: npm run sweep -w @instantpost\/upload -- /m);
  for (const item of ['--older-than-minutes <minutes>', '--dry-run'])
    t.true(help.stdout.includes(item), item);
  const unknown = runCommand(SWEEP, ['--dryrun']);
  t.is(unknown.status, 2);
  t.regex(unknown.stderr, /Unknown option '--dryrun'/);
  const young = runCommand(SWEEP, ['--older-than-minutes', '1']);
  t.is(young.status, 2);
  t.regex(young.stderr, /--older-than-minutes must be a number of at least 5/);
});
