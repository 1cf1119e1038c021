import test from 'ava';
import { waitFor } from '../src/index.ts';

test('waitFor returns the first truthy value, retrying falsy values and thrown errors', async (t) => {
  let calls = 0;
  const value = await waitFor(
    'the third probe',
    () => {
      calls += 1;
      if (calls === 1) throw new Error('not yet');
      return calls >= 3 ? { calls } : false;
    },
    { intervalMs: 1 },
  );
  t.deepEqual(value, { calls: 3 });
});

test('on timeout waitFor names what it waited for and the last failure', async (t) => {
  const err = await t.throwsAsync(
    waitFor(
      'the moon',
      () => {
        throw new Error('still night');
      },
      { timeoutMs: 30, intervalMs: 5 },
    ),
  );
  t.regex(err?.message ?? '', /waiting for the moon; last failure: Error: still night/);
  const quiet = await t.throwsAsync(waitFor('nothing', () => 0, { timeoutMs: 20, intervalMs: 5 }));
  t.regex(quiet?.message ?? '', /waiting for nothing$/);
});
