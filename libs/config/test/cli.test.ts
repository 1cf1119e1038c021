import { runCommand } from '@instantpost/testing';
import test from 'ava';

const DEMO = new URL('./fixtures/command.ts', import.meta.url);

test('--help prints the usage built from the table and exits 0', (t) => {
  const run = runCommand(DEMO, ['--help']);
  t.is(run.status, 0, run.stderr);
  t.is(run.stderr, '');
  for (const line of [
    /^usage: npm run demo -- <command> \[options\]$/m,
    /^ {2}list +list things$/m,
    /^ {2}--limit <n> +at most this many \(default 10\)$/m,
    /^ {2}--tag <value> +only these tags \(repeatable\)$/m,
    /^ {2}--json +machine-readable output$/m,
    /^ {2}-h, --help +this text$/m,
    /^exit status: 0 done, 2 misuse$/m,
  ]) {
    t.regex(run.stdout, line);
  }
  t.is(runCommand(DEMO, ['list', '-h']).status, 0);
});

test('options and positionals are parsed with their defaults', (t) => {
  const run = runCommand(DEMO, ['list', '--tag', 'a', '--tag', 'b', '--json']);
  t.is(run.status, 0, run.stderr);
  t.deepEqual(JSON.parse(run.stdout), {
    values: { limit: '10', tag: ['a', 'b'], json: true },
    positionals: ['list'],
  });
});

test('misuse exits 2 naming the problem: unknown option, missing value, unknown command, own checks', (t) => {
  for (const [args, problem] of [
    [['list', '--frobnicate'], /Unknown option '--frobnicate'/],
    [['list', '--limit'], /--limit/],
    [['erase'], /unknown command "erase"/],
    [['drop'], /drop needs a name/],
  ] as const) {
    const run = runCommand(DEMO, args);
    t.is(run.status, 2, `${args.join(' ')}: ${run.stdout}`);
    t.regex(run.stderr, problem);
    t.regex(run.stderr, /^usage: npm run demo -- <command> \[options\] \(--help for more\)$/m);
    t.is(run.stdout, '');
  }
});
