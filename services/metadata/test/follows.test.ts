import { createEvent } from '@instantpost/events';
import { shardOf } from '@instantpost/ids';
import test from 'ava';
import {
  call,
  consumerIdle,
  type Fixture,
  newUser,
  openMetadata,
  publish,
  recordEvents,
  type User,
  waitFor,
} from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openMetadata();
});
test.after.always(async () => {
  await fx?.close();
});

const mirrorIdle = (f: Fixture) => consumerIdle(f, 'SOCIAL', 'metadata-follow-mirror');
const countsOf = async (user: User) => (await call(fx.svc, 'GET', `/v1/users/${user.username}`)).body.counts;
const followerIds = async (of: User, viewer: User) =>
  (await call(fx.svc, 'GET', `/v1/users/${of.id}/followers`, { token: viewer.token })).body.items.map(
    (u: { id: string }) => u.id,
  );

test('a follow across two physical databases shows on both sides with right counts; follow and unfollow are idempotent', async (t) => {
  const alice = await newUser(fx.svc, { database: 0 });
  const bob = await newUser(fx.svc, { database: 1 });
  t.true(shardOf(alice.id) < 8 && shardOf(bob.id) >= 8, 'the two users live on different databases');
  const seen = recordEvents(fx, 'follow.>');

  for (let i = 0; i < 2; i++) {
    const res = await call(fx.svc, 'POST', `/v1/users/${bob.id}/follow`, { token: alice.token });
    t.is(res.status, 200);
    t.deepEqual(res.body, { state: 'following' });
  }
  t.deepEqual(await countsOf(alice), { posts: 0, followers: 0, following: 1 });
  await waitFor('bob to have one follower', async () => (await countsOf(bob)).followers === 1);
  t.deepEqual(await countsOf(bob), { posts: 0, followers: 1, following: 0 });
  t.deepEqual(await followerIds(bob, alice), [alice.id]);
  const following = await call(fx.svc, 'GET', `/v1/users/${alice.id}/following`);
  t.deepEqual(following.body, {
    items: [{ id: bob.id, username: bob.username, displayName: bob.username }],
    nextCursor: null,
  });
  const profile = await call(fx.svc, 'GET', `/v1/users/${bob.username}`, { token: alice.token });
  t.deepEqual(profile.body.viewer, { following: true, requested: false });

  for (let i = 0; i < 2; i++) {
    t.is((await call(fx.svc, 'DELETE', `/v1/users/${bob.id}/follow`, { token: alice.token })).status, 204);
  }
  t.deepEqual(await countsOf(alice), { posts: 0, followers: 0, following: 0 });
  await waitFor('bob to have no follower', async () => (await countsOf(bob)).followers === 0);
  t.deepEqual(await followerIds(bob, alice), []);

  const mine = () => seen.events.filter((e) => JSON.stringify(e.data).includes(alice.id));
  await waitFor('the follow.deleted of this test', async () =>
    mine().some((e) => e.type === 'follow.deleted'),
  );
  await new Promise((r) => setTimeout(r, 300));
  seen.stop();
  t.deepEqual(
    mine().map((e) => [e.type, e.data]),
    [
      ['follow.created', { followerId: alice.id, followeeId: bob.id, state: 'following', version: 1 }],
      ['follow.deleted', { followerId: alice.id, followeeId: bob.id, version: 2 }],
    ],
    'one event per real change, none for the repeated calls, each with the edge version it made',
  );
});

test('follows and unfollows of one edge sent at once: each real change once, with its own edge version', async (t) => {
  const fay = await newUser(fx.svc, { database: 0 });
  const gus = await newUser(fx.svc, { database: 1 });
  const seen = recordEvents(fx, 'follow.>');
  const follow = () => call(fx.svc, 'POST', `/v1/users/${gus.id}/follow`, { token: fay.token });
  const unfollow = () => call(fx.svc, 'DELETE', `/v1/users/${gus.id}/follow`, { token: fay.token });

  const follows = await Promise.all(Array.from({ length: 12 }, follow));
  t.true(follows.every((r) => r.status === 200 && r.body.state === 'following'));
  const mixed = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? follow() : unfollow())));
  t.true(mixed.every((r) => r.status === 200 || r.status === 204));
  await follow(); // whatever the race left, followed now

  const mine = () => seen.events.filter((e) => JSON.stringify(e.data).includes(fay.id));
  await waitFor('the edge and its mirror to settle', async () => (await countsOf(gus)).followers === 1);
  await mirrorIdle(fx);
  seen.stop();
  const versions = mine().map((e) => (e.data as { version: number }).version);
  t.deepEqual(
    versions,
    versions.map((_, i) => i + 1),
    'versions 1, 2, 3… each once: no two requests made the same change',
  );
  t.true(
    mine().every((e, i) => e.type === (i % 2 === 0 ? 'follow.created' : 'follow.deleted')),
    'follow and unfollow alternate, as the edge did',
  );
  t.is(mine().at(-1)?.type, 'follow.created');
  t.deepEqual(await countsOf(fay), { posts: 0, followers: 0, following: 1 });
  t.deepEqual(await followerIds(gus, fay), [fay.id]);
});

test('duplicate and reordered follow events leave both sides and the counts right', async (t) => {
  const carl = await newUser(fx.svc, { database: 0 });
  const dana = await newUser(fx.svc, { database: 1 });
  const erin = await newUser(fx.svc, { database: 1 });
  // carl follows dana and erin; then unfollows erin.
  await call(fx.svc, 'POST', `/v1/users/${dana.id}/follow`, { token: carl.token });
  await call(fx.svc, 'POST', `/v1/users/${erin.id}/follow`, { token: carl.token });
  await call(fx.svc, 'DELETE', `/v1/users/${erin.id}/follow`, { token: carl.token });
  await waitFor('dana to have one follower', async () => (await countsOf(dana)).followers === 1);

  const source = '/instantpost/metadata';
  const created = (followeeId: string) =>
    createEvent('follow.created', { followerId: carl.id, followeeId, state: 'following' }, { source });
  // A stale follow.created for erin arriving late (after the unfollow), twice, plus a duplicate id,
  // and a follow.deleted for dana arriving out of order (dana is still followed).
  const late = created(erin.id);
  await publish(fx, late);
  await publish(fx, { ...late });
  await publish(fx, created(erin.id));
  await publish(fx, createEvent('follow.deleted', { followerId: carl.id, followeeId: dana.id }, { source }));
  await publish(fx, created(dana.id));

  // Let the mirror handle them all: nothing pending or unacknowledged on its durable consumer.
  await mirrorIdle(fx);

  t.deepEqual(await countsOf(dana), { posts: 0, followers: 1, following: 0 });
  t.deepEqual(await countsOf(erin), { posts: 0, followers: 0, following: 0 });
  t.deepEqual(await countsOf(carl), { posts: 0, followers: 0, following: 1 });
  t.deepEqual(await followerIds(dana, carl), [carl.id]);
  t.deepEqual(await followerIds(erin, carl), []);
});

test('a private account gets follow requests; approve and deny; its lists are hidden from strangers', async (t) => {
  const priv = await newUser(fx.svc, { database: 1 });
  const fan = await newUser(fx.svc, { database: 0 });
  const other = await newUser(fx.svc, { database: 0 });
  const stranger = await newUser(fx.svc);
  await call(fx.svc, 'PATCH', '/v1/me', { token: priv.token, body: { isPrivate: true } });
  const seen = recordEvents(fx, 'follow.>');

  const req = await call(fx.svc, 'POST', `/v1/users/${priv.id}/follow`, { token: fan.token });
  t.deepEqual(req.body, { state: 'requested' });
  t.deepEqual((await call(fx.svc, 'POST', `/v1/users/${priv.id}/follow`, { token: fan.token })).body, {
    state: 'requested',
  });
  t.deepEqual((await call(fx.svc, 'POST', `/v1/users/${priv.id}/follow`, { token: other.token })).body, {
    state: 'requested',
  });
  t.deepEqual((await call(fx.svc, 'GET', `/v1/users/${priv.username}`, { token: fan.token })).body.viewer, {
    following: false,
    requested: true,
  });
  const requests = await waitFor('the follow request to be listed', async () => {
    const res = await call(fx.svc, 'GET', '/v1/follow-requests', { token: priv.token });
    return res.body.items.length === 2 ? res.body.items : undefined;
  });
  t.deepEqual(requests.map((u: { id: string }) => u.id).sort(), [fan.id, other.id].sort());
  t.is((await countsOf(priv)).followers, 0, 'a request is not a follower');
  t.is((await call(fx.svc, 'GET', `/v1/users/${priv.id}/followers`, { token: stranger.token })).status, 404);
  t.is((await call(fx.svc, 'GET', `/v1/users/${priv.id}/following`)).status, 404);
  t.is((await call(fx.svc, 'GET', `/v1/users/${priv.id}/followers`, { token: fan.token })).status, 404);

  t.is(
    (await call(fx.svc, 'POST', `/v1/follow-requests/${fan.id}/approve`, { token: priv.token })).status,
    204,
  );
  t.is(
    (await call(fx.svc, 'POST', `/v1/follow-requests/${fan.id}/approve`, { token: priv.token })).status,
    204,
  );
  t.is(
    (await call(fx.svc, 'POST', `/v1/follow-requests/${other.id}/deny`, { token: priv.token })).status,
    204,
  );
  t.is(
    (await call(fx.svc, 'POST', `/v1/follow-requests/${stranger.id}/approve`, { token: priv.token })).status,
    404,
  );
  t.is(
    (await call(fx.svc, 'POST', '/v1/follow-requests/xyz/approve', { token: priv.token })).body.field,
    'userId',
  );

  await waitFor(
    'the private account to have one follower',
    async () => (await countsOf(priv)).followers === 1,
  );
  t.deepEqual(await followerIds(priv, fan), [fan.id], 'an approved follower sees the list');
  // The deny reaches the followee's side through the mirror too.
  await waitFor(
    'the follow requests to be listed',
    async () =>
      (await call(fx.svc, 'GET', '/v1/follow-requests', { token: priv.token })).body.items.length === 0,
  );
  t.deepEqual((await call(fx.svc, 'GET', `/v1/users/${priv.username}`, { token: other.token })).body.viewer, {
    following: false,
    requested: false,
  });

  const mine = () => seen.events.filter((e) => (e.data as { followeeId: string }).followeeId === priv.id);
  await waitFor('four events of this test', async () => mine().length >= 4);
  seen.stop();
  t.deepEqual(
    mine()
      .map((e) => e.type)
      .sort(),
    ['follow.approved', 'follow.created', 'follow.created', 'follow.deleted'],
  );
});

test('bad follow input: 400 naming the field, 404 for unknown users, 401 without a token', async (t) => {
  const user = await newUser(fx.svc);
  const notId = await call(fx.svc, 'POST', '/v1/users/1%27%20OR%201=1/follow', { token: user.token });
  t.is(notId.status, 400);
  t.is(notId.body.field, 'id');
  const self = await call(fx.svc, 'POST', `/v1/users/${user.id}/follow`, { token: user.token });
  t.is(self.status, 400);
  t.is(
    (await call(fx.svc, 'POST', '/v1/users/123456789/follow', { token: user.token })).status,
    404,
    'an id of a shard outside the map',
  );
  t.is((await call(fx.svc, 'POST', '/v1/users/1024/follow', { token: user.token })).status, 404);
  t.is((await call(fx.svc, 'POST', `/v1/users/${user.id}/follow`)).status, 401);
  t.is((await call(fx.svc, 'GET', `/v1/users/${user.id}/followers?limit=0`)).body.field, 'limit');
  t.is((await call(fx.svc, 'GET', `/v1/users/${user.id}/followers?cursor=zzz`)).body.field, 'cursor');
});

test('follower lists page with a cursor', async (t) => {
  const star = await newUser(fx.svc);
  const fans = [];
  for (let i = 0; i < 3; i++) fans.push(await newUser(fx.svc));
  for (const fan of fans) await call(fx.svc, 'POST', `/v1/users/${star.id}/follow`, { token: fan.token });
  await waitFor('the star to have three followers', async () => (await countsOf(star)).followers === 3);
  const first = await call(fx.svc, 'GET', `/v1/users/${star.id}/followers?limit=2`);
  t.is(first.body.items.length, 2);
  t.truthy(first.body.nextCursor);
  const second = await call(
    fx.svc,
    'GET',
    `/v1/users/${star.id}/followers?limit=2&cursor=${first.body.nextCursor}`,
  );
  t.is(second.body.items.length, 1);
  t.is(second.body.nextCursor, null);
  t.deepEqual(
    [...first.body.items, ...second.body.items].map((u: { id: string }) => u.id).sort(),
    fans.map((f) => f.id).sort(),
  );
});

test('a private account that turns public approves its pending requests', async (t) => {
  const owner = await newUser(fx.svc, { database: 0 });
  const fans = [await newUser(fx.svc, { database: 1 }), await newUser(fx.svc, { database: 0 })];
  await call(fx.svc, 'PATCH', '/v1/me', { token: owner.token, body: { isPrivate: true } });
  for (const fan of fans) {
    t.deepEqual((await call(fx.svc, 'POST', `/v1/users/${owner.id}/follow`, { token: fan.token })).body, {
      state: 'requested',
    });
  }
  await waitFor(
    'the follow requests to be listed',
    async () =>
      (await call(fx.svc, 'GET', '/v1/follow-requests', { token: owner.token })).body.items.length === 2,
  );
  const seen = recordEvents(fx, 'follow.approved');
  t.is(
    (await call(fx.svc, 'PATCH', '/v1/me', { token: owner.token, body: { isPrivate: false } })).status,
    200,
  );
  // Approved by the account.updated the change published (metadata-go-public), a moment later.
  for (const fan of fans) {
    const viewer = await waitFor('the request to become a follow', async () => {
      const profile = await call(fx.svc, 'GET', `/v1/users/${owner.username}`, { token: fan.token });
      return profile.body.viewer.following ? profile.body.viewer : undefined;
    });
    t.deepEqual(viewer, { following: true, requested: false });
  }
  await waitFor('two followers', async () => (await countsOf(owner)).followers === 2);
  await waitFor(
    'no follow request left',
    async () =>
      (await call(fx.svc, 'GET', '/v1/follow-requests', { token: owner.token })).body.items.length === 0,
  );
  const mine = () => seen.events.filter((e) => (e.data as { followeeId: string }).followeeId === owner.id);
  await waitFor('two events of this test', async () => mine().length === 2);
  seen.stop();
  t.deepEqual(
    mine()
      .map((e) => (e.data as { followerId: string }).followerId)
      .sort(),
    fans.map((f) => f.id).sort(),
  );
});

test('a request delivered after its followee went public is approved when it arrives', async (t) => {
  const owner = await newUser(fx.svc, { database: 1 });
  const fan = await newUser(fx.svc, { database: 0 });
  await call(fx.svc, 'PATCH', '/v1/me', { token: owner.token, body: { isPrivate: true } });
  const asked = await call(fx.svc, 'POST', `/v1/users/${owner.id}/follow`, { token: fan.token });
  t.deepEqual(asked.body, { state: 'requested' });
  await mirrorIdle(fx);
  // The race: the account turns public (here behind the service's back, so no account.updated approves
  // anything) and the request's follow.created is delivered only now (a redelivery, by hand).
  const shard = fx.svc.infra.shards.forId(owner.id);
  await shard.sql`UPDATE ${shard.table('accounts')} SET is_private = false WHERE id = ${owner.id}`;
  await fx.svc.infra.redis.del(`account:${owner.id}`);
  await publish(
    fx,
    createEvent(
      'follow.created',
      { followerId: fan.id, followeeId: owner.id, state: 'requested' },
      { source: '/instantpost/metadata' },
    ),
  );
  const viewer = await waitFor('the request to become a follow', async () => {
    const profile = await call(fx.svc, 'GET', `/v1/users/${owner.username}`, { token: fan.token });
    return profile.body.viewer.following ? profile.body.viewer : undefined;
  });
  t.deepEqual(viewer, { following: true, requested: false });
  await waitFor('one follower', async () => (await countsOf(owner)).followers === 1);
});
