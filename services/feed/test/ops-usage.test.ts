import { runCommand } from '@instantpost/testing';
import test from 'ava';

const OPS = new URL('../src/ops.ts', import.meta.url);

test('feed ops: --help lists rebuild and reset; an unknown option or a half command exits 2 naming it', (t) => {
  const help = runCommand(OPS, ['--help']);
  t.is(help.status, 0, help.stderr);
  t.regex(help.stdout, /^usage: npm run ops -w @instantpost\/feed -- /m);
  for (const item of ['rebuild', 'reset', '--user <id>', '--all']) t.true(help.stdout.includes(item), item);
  const unknown = runCommand(OPS, ['rebuild', '--everyone']);
  t.is(unknown.status, 2);
  t.regex(unknown.stderr, /Unknown option '--everyone'/);
  const half = runCommand(OPS, ['rebuild']);
  t.is(half.status, 2);
  t.regex(half.stderr, /rebuild needs one of --user <id> or --all/);
});
