import { randomBytes } from 'node:crypto';
import test from 'ava';
import { call, type Fixture, newUser, openMetadata, recordEvents, waitFor } from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  // A one-second grace window, so the test can step past it.
  fx = await openMetadata({ REFRESH_REUSE_GRACE_SECONDS: '1' });
});
test.after.always(async () => {
  await fx?.close();
});

const refresh = (refreshToken: string) =>
  call(fx.svc, 'POST', '/v1/sessions/refresh', { body: { refreshToken } });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a forged secret for a real session is refused and revokes nothing', async (t) => {
  const user = await newUser(fx.svc);
  const sessionId = user.refreshToken.split('.')[0];
  for (let i = 0; i < 3; i++) {
    const forged = `${sessionId}.${randomBytes(32).toString('base64url')}`;
    t.is((await refresh(forged)).status, 401);
  }
  t.is(
    (await call(fx.svc, 'GET', '/v1/me', { token: user.token })).status,
    200,
    'the access token still works',
  );
  t.is((await refresh(user.refreshToken)).status, 201, 'and so does the real refresh token');
});

test('two tabs refreshing with the same token at once both end up with a working session', async (t) => {
  const user = await newUser(fx.svc);
  const [a, b] = await Promise.all([refresh(user.refreshToken), refresh(user.refreshToken)]);
  t.is(a?.status, 201);
  t.is(b?.status, 201);
  t.is(a?.body.refreshToken, b?.body.refreshToken, 'both tabs hold the same successor');
  for (const pair of [a, b]) {
    t.is((await call(fx.svc, 'GET', '/v1/me', { token: pair?.body.accessToken })).status, 200);
  }
  const next = await refresh(a?.body.refreshToken);
  t.is(next.status, 201, 'the shared successor rotates on as usual');
});

test('a rotated token replayed after the grace window revokes the session, and every service hears it', async (t) => {
  const user = await newUser(fx.svc);
  const seen = recordEvents(fx, 'session.>');
  const rotated = await refresh(user.refreshToken);
  t.is(rotated.status, 201);
  await sleep(1500);
  const replay = await refresh(user.refreshToken);
  t.is(replay.status, 401);
  t.is((await refresh(rotated.body.refreshToken)).status, 401, 'the session is revoked, the new token too');
  const revocationOfUser = (e: (typeof seen.events)[number]) =>
    e.type === 'session.revoked' && (e.data as { userId: string }).userId === user.id;
  await waitFor('the session.revoked event of the user', async () => seen.events.some(revocationOfUser));
  seen.stop();
  const event = seen.events.find(revocationOfUser);
  t.like(event?.data, {
    userId: user.id,
    sessionId: user.refreshToken.split('.')[0],
    reason: 'refresh_reuse',
  });
  // The revocation reaches access tokens too (this service's own copy of the list, filled from the event).
  await waitFor(
    'the rotated access token to be refused',
    async () => (await call(fx.svc, 'GET', '/v1/me', { token: rotated.body.accessToken })).status === 401,
    { timeoutMs: 5000 },
  );
  t.pass();
});

test('logout ends the access tokens of that session only, within seconds', async (t) => {
  const user = await newUser(fx.svc);
  const other = await call(fx.svc, 'POST', '/v1/sessions', {
    body: { username: user.username, password: 'correct horse battery' },
  });
  t.is((await call(fx.svc, 'DELETE', '/v1/sessions/current', { token: user.token })).status, 204);
  // The contract: refused within 5 s.
  await waitFor(
    'the logged-out access token to be refused',
    async () => (await call(fx.svc, 'GET', '/v1/me', { token: user.token })).status === 401,
    { timeoutMs: 5000 },
  );
  const after = await call(fx.svc, 'GET', '/v1/me', { token: user.token });
  t.is(after.status, 401);
  t.regex(after.body.detail, /session/);
  t.is((await call(fx.svc, 'GET', '/v1/me', { token: other.body.accessToken })).status, 200);
});
