import test from 'ava';
import { planRebalance } from '../src/index.ts';

const A = 'postgres://app@db-a:5432/instantpost_0';
const B = 'postgres://app@db-b:5432/instantpost_1';
const C = 'postgres://app@db-c:5432/instantpost_2';
const mapOf = (...urls: string[]) => ({ shards: urls });
const counts = (shards: readonly string[]) => {
  const out: Record<string, number> = {};
  for (const u of shards) out[u] = (out[u] ?? 0) + 1;
  return out;
};

test('a third database gets its share from both: five moves for 16 shards, the fewest there are', (t) => {
  const shards = [...Array(8).fill(A), ...Array(8).fill(B)] as string[];
  const plan = planRebalance(mapOf(...shards), [C]);
  t.deepEqual(
    plan.map((m) => [m.shard, m.to]),
    [
      [6, C],
      [7, C],
      [13, C],
      [14, C],
      [15, C],
    ],
  );
  const after = [...shards];
  for (const m of plan) {
    t.is(after[m.shard], m.from);
    after[m.shard] = m.to;
  }
  t.deepEqual(counts(after), { [A]: 6, [B]: 5, [C]: 5 });
});

test('an even map, or one off by no more than one, plans nothing; a database named twice counts once', (t) => {
  t.deepEqual(planRebalance(mapOf(A, A, B, B)), []);
  t.deepEqual(planRebalance(mapOf(A, A, B), [A, B]), []);
});

test('shards piled on one database spread over all of them', (t) => {
  const shards = Array(8).fill(A) as string[];
  const plan = planRebalance(mapOf(...shards), [B, C, `${C}`]);
  const after = [...shards];
  for (const m of plan) after[m.shard] = m.to;
  t.deepEqual(counts(after), { [A]: 3, [B]: 3, [C]: 2 });
  t.is(plan.length, 5);
});
