import test from 'ava';
import { KEPT_MARKER, mergeSections, sectionsOf } from '../benchmarks-md.ts';
import { renderFigures } from '../report.ts';

const oldFile = `# Benchmarks

intro

## ids

old ids table

## interactions

figures of a direct run, written by hand

## system

old system table

${KEPT_MARKER}
The endpoint table of reads.ts, by hand.
`;

test('a rewrite keeps the sections of benchmarks that did not run, hand-written ones included', (t) => {
  const previous = sectionsOf(oldFile);
  t.deepEqual([...previous.keys()], ['ids', 'interactions', 'system']);
  const generated = new Map([
    ['ids', '## ids\n\nnew ids table\n'],
    ['interactions', '## interactions\n\nan older saved run\n'],
    ['system', '## system\n\nnew system table\n'],
  ]);
  const merged = mergeSections(
    ['ids', 'interactions', 'system', 'web'],
    previous,
    generated,
    new Set(['ids']),
  );
  t.deepEqual(merged, [
    '## ids\n\nnew ids table',
    '## interactions\n\nfigures of a direct run, written by hand',
    `## system\n\nold system table\n\n${KEPT_MARKER}\nThe endpoint table of reads.ts, by hand.`,
  ]);
});

test('a benchmark that ran gets its new table and keeps what stood below its kept line', (t) => {
  const merged = mergeSections(
    ['system', 'web'],
    sectionsOf(oldFile),
    new Map([
      ['system', '## system\n\nnew system table\n'],
      ['web', '## web\n\nfirst web table\n'],
    ]),
    new Set(['system', 'web']),
  );
  t.deepEqual(merged, [
    `## system\n\nnew system table\n\n${KEPT_MARKER}\nThe endpoint table of reads.ts, by hand.`,
    '## web\n\nfirst web table',
  ]);
});

test('a figure that rounds up to 100 is printed as 100, and fractions lose only their trailing zeros', (t) => {
  const row = (value: number) =>
    renderFigures([{ figure: 'f', value, unit: 'ms', baseline: 'b', baselineValue: 20, ratio: 1 }]).split(
      '\n',
    )[2];
  // 99.962 was printed "1 ms" (toPrecision's "100" lost its zeros to the fraction's trim)
  t.is(row(99.962), '| f | 100 ms | b: 20 ms | 1.00 |');
  t.is(row(12.5), '| f | 12.5 ms | b: 20 ms | 1.00 |');
  t.is(row(0.1), '| f | 0.1 ms | b: 20 ms | 1.00 |');
  t.is(row(1234.4), '| f | 1,234 ms | b: 20 ms | 1.00 |');
});
