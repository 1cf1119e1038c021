import test from 'ava';
import { call, type Fixture, openMetadata } from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openMetadata({ SIGNUP_MAX_PER_ADDRESS: '3' });
});
test.after.always(async () => {
  await fx?.close();
});

const PASSWORD = 'correct horse battery';

test('sign-ups are limited per client address (429 with Retry-After); other addresses go on', async (t) => {
  const signUp = (address: string, n: number) =>
    call(fx.svc, 'POST', '/v1/accounts', {
      body: { username: `signup${n}_${Math.random().toString(36).slice(2, 7)}`, password: PASSWORD },
      headers: { 'x-forwarded-for': address },
    });
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await signUp('203.0.113.20', i)).status);
  t.deepEqual(statuses, [201, 201, 201, 429]);
  const limited = await signUp('203.0.113.20', 9);
  t.true(Number(limited.headers['retry-after']) > 0);
  t.is((await signUp('198.51.100.20', 10)).status, 201);
});
