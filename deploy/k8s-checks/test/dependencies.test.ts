import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { checkDependencies, formatFindings, importsOf, readWorkspaces } from '../src/index.ts';

test('every workspace declares exactly what its sources, tests and run-time scripts use', (t) => {
  const workspaces = readWorkspaces();
  t.true(workspaces.length >= 15, `only ${workspaces.length} workspaces`);
  t.is(formatFindings(checkDependencies(workspaces)), '');
});

test('imports: values, types, re-exports, dynamic imports; builtins and relative paths left out', (t) => {
  const uses = importsOf(`
import { a } from '@scope/pkg/sub';
import type { Sql } from 'postgres';
import { type Logger, type Level } from 'pino';
import def, { type X } from 'mixed';
import 'side-effect';
export * from 'reexported';
import { readFileSync } from 'node:fs';
import path from 'path';
import { local } from './local.ts';
export type { Exported } from 'typed-reexport';
import type { Shown } from 'shown';
export interface Api { shown: Shown }
const lazy = await import('lazy');
`);
  const by = Object.fromEntries(
    uses.map((u) => [u.pkg, u.typeOnly ? (u.exportedType ? 'exported type' : 'type') : 'value']),
  );
  t.deepEqual(by, {
    '@scope/pkg': 'value',
    postgres: 'type',
    pino: 'type',
    mixed: 'value',
    'side-effect': 'value',
    reexported: 'value',
    'typed-reexport': 'exported type',
    shown: 'exported type',
    lazy: 'value',
  });
});

test('a missing, unused, misplaced or doubly declared package is reported', (t) => {
  const repo = mkdtempSync(join(tmpdir(), 'deps-check-'));
  try {
    const write = (path: string, text: string) => {
      mkdirSync(join(repo, path, '..'), { recursive: true });
      writeFileSync(join(repo, path), text);
    };
    write('package.json', JSON.stringify({ workspaces: ['libs/*'] }));
    write(
      'libs/a/package.json',
      JSON.stringify({
        name: '@x/a',
        exports: { '.': './src/index.ts', './testing': './src/testing.ts' },
        scripts: { start: 'node --import tsx src/index.ts' },
        dependencies: { unused: '1', 'only-tests': '1', both: '1', 'exported-types': '1' },
        devDependencies: { 'run-time': '1', both: '1' },
      }),
    );
    write(
      'libs/a/src/index.ts',
      "import { v } from 'run-time';\nimport { w } from 'undeclared';\nimport type { T } from 'exported-types';\nimport type { U } from 'internal-types';\nexport function f(t: T): void {}\nconst u: U = v(w);\n",
    );
    write('libs/a/src/testing.ts', "import { fixture } from 'fixtures';\n");
    write(
      'libs/a/test/a.test.ts',
      "import test from 'ava';\nimport { x } from 'only-tests';\nimport { a } from '@x/a';\n",
    );
    const messages = formatFindings(checkDependencies(readWorkspaces(repo), repo));
    for (const expected of [
      'run-time is used at run time (src/ or a run-time script) but is a devDependency',
      'undeclared is used at run time (src/ or a run-time script) but not declared',
      'tsx is used at run time (src/ or a run-time script) but not declared',
      'internal-types is imported by tests or for types but not declared',
      'fixtures is imported by tests or for types but not declared',
      'ava is imported by tests or for types but not declared',
      'only-tests is a dependency but only tests, types or dev tools use it',
      'unused is a dependency nothing uses',
      'both is both a dependency and a devDependency',
    ]) {
      t.true(messages.includes(expected), `expected "${expected}" in:\n${messages}`);
    }
    t.false(messages.includes('exported-types'), messages);
    t.false(messages.includes('@x/a'), 'a package importing itself in its tests is not a dependency');
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
});
