import { runCommand } from '@instantpost/testing';
import test from 'ava';

const REPROCESS = new URL('../src/reprocess.ts', import.meta.url);

test('reprocess: --help prints its usage; an unknown option or a bad id exits 2 naming it', (t) => {
  const help = runCommand(REPROCESS, ['--help']);
  t.is(help.status, 0, help.stderr);
  t.regex(help.stdout, /^usage: npm run reprocess -w @instantpost\/media-processing -- <mediaId>/m);
  const unknown = runCommand(REPROCESS, ['--all']);
  t.is(unknown.status, 2);
  t.regex(unknown.stderr, /Unknown option '--all'/);
  const bad = runCommand(REPROCESS, ['12', 'photo.jpg']);
  t.is(bad.status, 2);
  t.regex(bad.stderr, /not media ids: photo\.jpg/);
});
