import { generateKeyPairSync } from 'node:crypto';
import { signAccessToken } from '@instantpost/http';
import { shardOf } from '@instantpost/ids';
import test from 'ava';
import {
  call,
  countEverywhere,
  type Fixture,
  newUser,
  openMetadata,
  recordEvents,
  uniqueName,
  waitFor,
} from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  // Grace 0: a repeated refresh token is always a replay here (refresh.test.ts covers the grace window).
  fx = await openMetadata({ LOGIN_FREE_FAILURES: '3', REFRESH_REUSE_GRACE_SECONDS: '0' });
});
test.after.always(async () => {
  await fx?.close();
});

const PASSWORD = 'correct horse battery';

test('sign-up creates the account on a shard of its id, publishes account.created, and the user can log in', async (t) => {
  const seen = recordEvents(fx, 'account.>');
  const username = uniqueName('alice');
  const created = await call(fx.svc, 'POST', '/v1/accounts', {
    body: { username, password: PASSWORD, displayName: 'Alice Ä' },
  });
  t.is(created.status, 201);
  t.deepEqual(Object.keys(created.body).sort(), ['displayName', 'id', 'username']);
  t.is(created.body.username, username);
  t.is(created.body.displayName, 'Alice Ä');
  t.regex(created.body.id, /^[1-9][0-9]+$/);
  const shard = fx.svc.infra.shards.forId(created.body.id);
  const [row] =
    await shard.sql`SELECT password_hash FROM ${shard.table('accounts')} WHERE id = ${created.body.id}`;
  t.truthy(row);
  t.true(String(row?.password_hash).startsWith('scrypt$'), 'the password is stored as a scrypt hash');
  t.false(String(row?.password_hash).includes(PASSWORD));

  const login = await call(fx.svc, 'POST', '/v1/sessions', { body: { username, password: PASSWORD } });
  t.is(login.status, 201);
  t.is(login.body.user.id, created.body.id);
  t.is(login.body.expiresIn, 900);
  t.truthy(login.body.refreshToken);

  const me = await call(fx.svc, 'GET', '/v1/me', { token: login.body.accessToken });
  t.is(me.status, 200);
  t.like(me.body, { id: created.body.id, username, displayName: 'Alice Ä', bio: '', isPrivate: false });
  t.deepEqual(me.body.counts, { posts: 0, followers: 0, following: 0 });

  const event = await waitFor('the account.created of the new account', async () =>
    seen.events.find((e) => (e.data as { userId: string }).userId === created.body.id),
  );
  seen.stop();
  t.is(event.type, 'account.created');
  t.deepEqual(event.data, { userId: created.body.id, username, displayName: 'Alice Ä', isPrivate: false });
});

test('a taken username is 409, also when ten sign-ups race for it; exactly one account exists', async (t) => {
  const username = uniqueName('race');
  const replies = await Promise.all(
    Array.from({ length: 10 }, () =>
      call(fx.svc, 'POST', '/v1/accounts', { body: { username, password: PASSWORD } }),
    ),
  );
  t.deepEqual(replies.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
  const again = await call(fx.svc, 'POST', '/v1/accounts', { body: { username, password: PASSWORD } });
  t.is(again.status, 409);
  t.regex(String(again.headers['content-type']), /^application\/problem\+json/);
  t.is(await countEverywhere(fx, 'accounts', `username = '${username}'`), 1);
});

// Serial (ava runs serial tests first): it counts rows in every shard, so no other test may write meanwhile.
test.serial('bad sign-up input is a 400 naming the field, and nothing is stored', async (t) => {
  const before = await countEverywhere(fx, 'accounts');
  const claimsBefore = await countEverywhere(fx, 'usernames');
  const cases: [unknown, string][] = [
    [{ password: PASSWORD }, 'username'],
    [{ username: 'Alice', password: PASSWORD }, 'username'],
    [{ username: "x'; DROP TABLE accounts; --", password: PASSWORD }, 'username'],
    [{ username: 'a'.repeat(10 * 1024), password: PASSWORD }, 'username'],
    [{ username: 'a'.repeat(31), password: PASSWORD }, 'username'],
    [{ username: '', password: PASSWORD }, 'username'],
    [{ username: 12345, password: PASSWORD }, 'username'],
    [{ username: ['bob'], password: PASSWORD }, 'username'],
    [{ username: uniqueName(), password: 'short' }, 'password'],
    [{ username: uniqueName(), password: 12345678 }, 'password'],
    [{ username: uniqueName(), password: PASSWORD, displayName: 7 }, 'displayName'],
    [{ username: uniqueName(), password: PASSWORD, displayName: 'x'.repeat(101) }, 'displayName'],
    [{ username: uniqueName(), password: PASSWORD, displayName: 'nul\u0000byte' }, 'displayName'],
    [{ username: uniqueName(), password: PASSWORD, displayName: 'lone \ud800 surrogate' }, 'displayName'],
    [['not', 'an', 'object'], 'body'],
  ];
  for (const [body, field] of cases) {
    const res = await call(fx.svc, 'POST', '/v1/accounts', { body });
    t.is(res.status, 400, JSON.stringify(body).slice(0, 80));
    t.is(res.body.field, field, JSON.stringify(body).slice(0, 80));
    t.regex(String(res.headers['content-type']), /^application\/problem\+json/);
  }
  // Invalid UTF-8 bytes inside a JSON string, and a body that is not JSON at all.
  const broken = Buffer.concat([
    Buffer.from(`{"username":"${uniqueName()}","password":"${PASSWORD}","displayName":"bad `),
    Buffer.from([0xc3, 0x28, 0xff]),
    Buffer.from('"}'),
  ]);
  const utf8 = await call(fx.svc, 'POST', '/v1/accounts', { raw: broken });
  t.is(utf8.status, 400);
  t.is(utf8.body.field, 'body');
  const notJson = await call(fx.svc, 'POST', '/v1/accounts', { raw: '{"username": ' });
  t.is(notJson.status, 400);
  t.is(notJson.body.field, 'body');
  const poisoned = await call(fx.svc, 'POST', '/v1/accounts', {
    raw: `{"username":"${uniqueName()}","password":"${PASSWORD}","__proto__":{"isPrivate":true}}`,
  });
  t.is(poisoned.status, 400, 'prototype poisoning is refused');
  t.is(await countEverywhere(fx, 'accounts'), before, 'no account was stored');
  t.is(await countEverywhere(fx, 'usernames'), claimsBefore, 'no username was claimed');
});

test('wrong password and unknown user get the same 401; failures slow down only the client making them', async (t) => {
  const user = await newUser(fx.svc);
  const attacker = { 'x-forwarded-for': '198.51.100.66' };
  const logIn = (password: unknown, headers: Record<string, string> = attacker) =>
    call(fx.svc, 'POST', '/v1/sessions', { body: { username: user.username, password }, headers });
  const wrong = await logIn('nope-nope');
  const unknown = await call(fx.svc, 'POST', '/v1/sessions', {
    body: { username: uniqueName('ghost'), password: 'nope-nope' },
    headers: attacker,
  });
  t.is(wrong.status, 401);
  t.is(unknown.status, 401);
  t.is(wrong.body.detail, unknown.body.detail);
  const bad = await logIn(42);
  t.is(bad.status, 400);
  t.is(bad.body.field, 'password');

  // Two more failures reach the 3 free ones: this client now waits before each try of this username.
  t.is((await logIn('nope-nope')).status, 401);
  t.is((await logIn('nope-nope')).status, 401);
  const slowed = await logIn(PASSWORD);
  t.is(slowed.status, 429, 'even the right password waits, from this client');
  t.regex(String(slowed.headers['content-type']), /^application\/problem\+json/);
  const wait = Number(slowed.headers['retry-after']);
  t.true(wait >= 1 && wait <= 2, `waits 1 s after the first failure past the free ones (got ${wait})`);

  // The owner, from their own address, is not stopped by someone else's failures.
  t.is((await logIn(PASSWORD, { 'x-forwarded-for': '192.0.2.10' })).status, 201);
  // Another username from the attacking address is not affected either.
  const other = await call(fx.svc, 'POST', '/v1/sessions', {
    body: { username: (await newUser(fx.svc)).username, password: PASSWORD },
    headers: attacker,
  });
  t.is(other.status, 201);
  // After the wait the attacking address may try again (it is slowed, not locked).
  await new Promise((resolve) => setTimeout(resolve, wait * 1000 + 100));
  t.is((await logIn(PASSWORD)).status, 201);
});

test('refresh rotates the pair; the old refresh token is refused and its reuse revokes the session', async (t) => {
  const user = await newUser(fx.svc);
  const first = await call(fx.svc, 'POST', '/v1/sessions/refresh', {
    body: { refreshToken: user.refreshToken },
  });
  t.is(first.status, 201);
  t.not(first.body.refreshToken, user.refreshToken);
  t.is(first.body.user.id, user.id);
  t.is((await call(fx.svc, 'GET', '/v1/me', { token: first.body.accessToken })).status, 200);

  const reused = await call(fx.svc, 'POST', '/v1/sessions/refresh', {
    body: { refreshToken: user.refreshToken },
  });
  t.is(reused.status, 401, 'the old refresh token stops working');
  const afterTheft = await call(fx.svc, 'POST', '/v1/sessions/refresh', {
    body: { refreshToken: first.body.refreshToken },
  });
  t.is(afterTheft.status, 401, 'a replayed token revokes the whole session, the new token too');

  for (const refreshToken of ['garbage', `${user.id}.${'A'.repeat(43)}`, "1' OR '1'='1"]) {
    t.is((await call(fx.svc, 'POST', '/v1/sessions/refresh', { body: { refreshToken } })).status, 401);
  }
  const wrongType = await call(fx.svc, 'POST', '/v1/sessions/refresh', { body: { refreshToken: 5 } });
  t.is(wrongType.status, 400);
  t.is(wrongType.body.field, 'refreshToken');
});

test('logout makes the refresh token stop working', async (t) => {
  const user = await newUser(fx.svc);
  const otherDevice = await call(fx.svc, 'POST', '/v1/sessions', {
    body: { username: user.username, password: PASSWORD },
  });
  t.is((await call(fx.svc, 'DELETE', '/v1/sessions/current')).status, 401, 'needs a token');
  const out = await call(fx.svc, 'DELETE', '/v1/sessions/current', { token: user.token });
  t.is(out.status, 204);
  const refreshed = await call(fx.svc, 'POST', '/v1/sessions/refresh', {
    body: { refreshToken: user.refreshToken },
  });
  t.is(refreshed.status, 401);
  t.is(
    (
      await call(fx.svc, 'POST', '/v1/sessions/refresh', {
        body: { refreshToken: otherDevice.body.refreshToken },
      })
    ).status,
    201,
    'the session on the other device, named in its own access token, goes on',
  );

  // With a refresh token in the body only that session ends.
  const a = await call(fx.svc, 'POST', '/v1/sessions', {
    body: { username: user.username, password: PASSWORD },
  });
  const b = await call(fx.svc, 'POST', '/v1/sessions', {
    body: { username: user.username, password: PASSWORD },
  });
  const one = await call(fx.svc, 'DELETE', '/v1/sessions/current', {
    token: a.body.accessToken,
    body: { refreshToken: a.body.refreshToken },
  });
  t.is(one.status, 204);
  t.is(
    (await call(fx.svc, 'POST', '/v1/sessions/refresh', { body: { refreshToken: a.body.refreshToken } }))
      .status,
    401,
  );
  t.is(
    (await call(fx.svc, 'POST', '/v1/sessions/refresh', { body: { refreshToken: b.body.refreshToken } }))
      .status,
    201,
  );
});

test('expired, foreign-signed and malformed access tokens are 401', async (t) => {
  const user = await newUser(fx.svc);
  const expired = signAccessToken(
    fx.keys.privateKey,
    { sub: user.id, username: user.username },
    60,
    Date.now() - 3600_000,
  );
  const foreign = signAccessToken(
    generateKeyPairSync('ed25519').privateKey,
    { sub: user.id, username: user.username },
    600,
  );
  for (const token of [expired, foreign, 'not.a.jwt']) {
    const res = await call(fx.svc, 'GET', '/v1/me', { token });
    t.is(res.status, 401);
    t.regex(String(res.headers['content-type']), /^application\/problem\+json/);
  }
  t.is((await call(fx.svc, 'GET', '/v1/me')).status, 401);
});

test('PATCH /v1/me changes the profile, publishes only the changed fields, and GET /v1/users/:username shows it', async (t) => {
  const user = await newUser(fx.svc);
  const seen = recordEvents(fx, 'account.updated');
  const patched = await call(fx.svc, 'PATCH', '/v1/me', {
    token: user.token,
    body: { displayName: 'New Name', bio: 'hello 🌅', isPrivate: true },
  });
  t.is(patched.status, 200);
  t.like(patched.body, { id: user.id, displayName: 'New Name', bio: 'hello 🌅', isPrivate: true });
  const same = await call(fx.svc, 'PATCH', '/v1/me', {
    token: user.token,
    body: { bio: 'hello 🌅', displayName: 'Other' },
  });
  t.is(same.status, 200);

  const byName = await call(fx.svc, 'GET', `/v1/users/${user.username}`);
  t.is(byName.status, 200);
  t.like(byName.body, {
    id: user.id,
    username: user.username,
    displayName: 'Other',
    bio: 'hello 🌅',
    isPrivate: true,
    counts: { posts: 0, followers: 0, following: 0 },
    viewer: { following: false, requested: false },
  });

  const events = await waitFor('the account.updated events of the user', async () =>
    seen.events.filter((e) => (e.data as { userId: string }).userId === user.id).length >= 2
      ? seen.events
      : undefined,
  );
  seen.stop();
  const mine = events.filter((e) => (e.data as { userId: string }).userId === user.id).map((e) => e.data);
  t.deepEqual(mine, [
    { userId: user.id, displayName: 'New Name', bio: 'hello 🌅', isPrivate: true },
    { userId: user.id, displayName: 'Other' },
  ]);

  const badType = await call(fx.svc, 'PATCH', '/v1/me', { token: user.token, body: { isPrivate: 'yes' } });
  t.is(badType.status, 400);
  t.is(badType.body.field, 'isPrivate');
  const longBio = await call(fx.svc, 'PATCH', '/v1/me', {
    token: user.token,
    body: { bio: 'b'.repeat(501) },
  });
  t.is(longBio.status, 400);
  t.is(longBio.body.field, 'bio');
  t.is((await call(fx.svc, 'GET', '/v1/me', { token: user.token })).body.bio, 'hello 🌅', 'nothing changed');

  t.is((await call(fx.svc, 'GET', `/v1/users/${uniqueName('nobody')}`)).status, 404);
  t.is((await call(fx.svc, 'GET', '/v1/users/Bad%20Name')).status, 400);
  t.true(shardOf(user.id) >= 0);
});
