import test from 'ava';
import { BoundedMap, perText } from '../src/bounded.ts';

test('a full BoundedMap drops its oldest entry for a new key, and says which', (t) => {
  const dropped: [string, number][] = [];
  const map = new BoundedMap<string, number>(2, (key, value) => dropped.push([key, value]));
  map.set('a', 1).set('b', 2).set('c', 3);
  t.deepEqual(
    [...map],
    [
      ['b', 2],
      ['c', 3],
    ],
  );
  t.deepEqual(dropped, [['a', 1]]);
});

test('setting a kept key again makes it the newest and drops nothing', (t) => {
  const dropped: string[] = [];
  const map = new BoundedMap<string, number>(2, (key) => dropped.push(key));
  map.set('a', 1).set('b', 2).set('a', 10);
  t.deepEqual(
    [...map],
    [
      ['b', 2],
      ['a', 10],
    ],
  );
  map.set('c', 3);
  t.deepEqual([...map.keys()], ['a', 'c'], 'b, now the oldest, went');
  t.deepEqual(dropped, ['b']);
});

test('a BoundedMap refuses a size it cannot hold', (t) => {
  t.throws(() => new BoundedMap(0), { instanceOf: RangeError });
});

test('perText makes once per text and again when the text changes', (t) => {
  let made = 0;
  const parse = perText(10, (text) => {
    made++;
    return JSON.parse(text) as { n: number };
  });
  const first = parse('k', '{"n":1}');
  t.is(parse('k', '{"n":1}'), first, 'the same text gives the same object');
  t.is(made, 1);
  t.deepEqual(parse('k', '{"n":2}'), { n: 2 });
  t.is(made, 2);
});
