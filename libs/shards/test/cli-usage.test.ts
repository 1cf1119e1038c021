import { runCommand } from '@instantpost/testing';
import test from 'ava';

const CLI = new URL('../src/cli.ts', import.meta.url);

test('npm run shards -- --help lists the commands and options; an unknown option exits 2 naming it', (t) => {
  const help = runCommand(CLI, ['--help']);
  t.is(help.status, 0, help.stderr);
  t.regex(help.stdout, /^usage: npm run shards -- <command> \[options\]$/m);
  for (const item of [
    'status',
    'migrate',
    'create-databases',
    'map',
    '--service <name>',
    '--admin-url <url>',
  ])
    t.true(help.stdout.includes(item), item);
  const unknown = runCommand(CLI, ['status', '--servce', 'feed']);
  t.is(unknown.status, 2);
  t.regex(unknown.stderr, /Unknown option '--servce'/);
  const none = runCommand(CLI, []);
  t.is(none.status, 2);
  t.regex(none.stderr, /a command is needed/);
});
