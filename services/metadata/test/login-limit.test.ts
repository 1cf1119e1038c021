import test from 'ava';
import { call, type Fixture, newUser, openMetadata } from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openMetadata({ LOGIN_MAX_FAILURES_PER_ADDRESS: '4' });
});
test.after.always(async () => {
  await fx?.close();
});

const PASSWORD = 'correct horse battery';

test('failed logins are capped per client address, whatever usernames they try; other addresses go on', async (t) => {
  const users = [await newUser(fx.svc), await newUser(fx.svc), await newUser(fx.svc)];
  const from = (address: string, username: string, password: string) =>
    call(fx.svc, 'POST', '/v1/sessions', {
      body: { username, password },
      headers: { 'x-forwarded-for': address },
    });
  // Successful logins do not count; four failures spread over three usernames do.
  t.is((await from('203.0.113.7', users[0]?.username ?? '', PASSWORD)).status, 201);
  const failures = [];
  for (let i = 0; i < 4; i++) {
    failures.push((await from('203.0.113.7', users[i % 3]?.username ?? '', 'wrong password')).status);
  }
  t.deepEqual(failures, [401, 401, 401, 401]);
  const limited = await from('203.0.113.7', users[2]?.username ?? '', PASSWORD);
  t.is(limited.status, 429);
  t.true(Number(limited.headers['retry-after']) > 0);
  t.regex(String(limited.headers['content-type']), /^application\/problem\+json/);
  t.is((await from('198.51.100.2', users[0]?.username ?? '', PASSWORD)).status, 201);
});

test('a client that is not a trusted proxy cannot pick its address with X-Forwarded-For', async (t) => {
  const user = await newUser(fx.svc);
  const statuses = [];
  for (let i = 0; i < 5; i++) {
    const res = await call(fx.svc, 'POST', '/v1/sessions', {
      body: { username: user.username, password: 'wrong password' },
      // A new forged address each time; the connection comes from 203.0.113.99, which is not trusted.
      headers: { 'x-forwarded-for': `192.0.2.${i + 1}` },
      remoteAddress: '203.0.113.99',
    });
    statuses.push(res.status);
  }
  t.deepEqual(statuses, [401, 401, 401, 401, 429], 'all five counted against the real peer address');
});
