import test from 'ava';
import { call, type Fixture, newUser, openMetadata } from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openMetadata({ LOGIN_MAX_PER_ADDRESS: '4' });
});
test.after.always(async () => {
  await fx?.close();
});

test('logins are rate limited per client address (429 with Retry-After); other addresses go on', async (t) => {
  const user = await newUser(fx.svc); // one login from the default address
  const from = (address: string, password: string) =>
    call(fx.svc, 'POST', '/v1/sessions', {
      body: { username: user.username, password },
      headers: { 'x-forwarded-for': address },
    });
  // Successful logins do not count against the username (only failures do); the address limit counts all.
  const statuses = [];
  for (let i = 0; i < 5; i++) statuses.push((await from('203.0.113.7', 'correct horse battery')).status);
  t.deepEqual(statuses, [201, 201, 201, 201, 429]);
  const limited = await from('203.0.113.7', 'correct horse battery');
  t.is(limited.status, 429);
  t.truthy(limited.headers['retry-after']);
  t.regex(String(limited.headers['content-type']), /^application\/problem\+json/);
  t.is((await from('198.51.100.2', 'correct horse battery')).status, 201);
});
