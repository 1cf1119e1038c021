import { startTcpProxy, type TcpProxy } from '@instantpost/testing';
import test from 'ava';
import { call, type Fixture, newPost, newUser, openMetadata, waitFor } from './helpers.ts';

// Redis holds only caches, the post → author map and limiter counters: with it unreachable (a TCP proxy
// cut in between) every write is still accepted and reads come from Postgres; once it is back, no write
// made during the outage is hidden behind a stale cached copy.
let fx: Fixture;
let proxy: TcpProxy;

test.before(async () => {
  fx = await openMetadata({}, async (ns) => {
    const redisUrl = new URL(ns.redis.url);
    proxy = await startTcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379));
    return { REDIS_URL: `redis://127.0.0.1:${proxy.port}` };
  });
});
test.after.always(async () => {
  await proxy?.restore().catch(() => {});
  await fx?.close();
  await proxy?.close();
});

test('with Redis cut off, sign-up, login, follows, likes, comments and edits work; reads come from Postgres', async (t) => {
  const alice = await newUser(fx.svc);
  const bob = await newUser(fx.svc);
  const post = await newPost(fx, alice, 'before the outage');
  // Warm the caches, so a stale copy would be there to serve (bob's liked flag among them).
  const warm = (await call(fx.svc, 'GET', `/v1/posts/${post}`, { token: bob.token })).body;
  t.is(warm.likeCount, 0);
  t.false(warm.viewerHasLiked);
  t.is((await call(fx.svc, 'GET', `/v1/users/${alice.username}`)).body.displayName, alice.username);

  await proxy.cut();
  const statuses: Record<string, number> = {};
  const carol = await call(fx.svc, 'POST', '/v1/accounts', {
    body: { username: `carol${Date.now() % 1e6}`, password: 'correct horse battery' },
  });
  statuses.signUp = carol.status;
  statuses.logIn = (
    await call(fx.svc, 'POST', '/v1/sessions', {
      body: { username: bob.username, password: 'correct horse battery' },
    })
  ).status;
  statuses.follow = (await call(fx.svc, 'POST', `/v1/users/${alice.id}/follow`, { token: bob.token })).status;
  statuses.like = (await call(fx.svc, 'POST', `/v1/posts/${post}/likes`, { token: bob.token })).status;
  statuses.comment = (
    await call(fx.svc, 'POST', `/v1/posts/${post}/comments`, { token: bob.token, body: { text: 'during' } })
  ).status;
  statuses.edit = (
    await call(fx.svc, 'PATCH', '/v1/me', { token: alice.token, body: { displayName: 'Alice Outage' } })
  ).status;
  const read = await call(fx.svc, 'GET', `/v1/posts/${post}`, { token: bob.token });
  statuses.readPost = read.status;
  statuses.readProfile = (await call(fx.svc, 'GET', `/v1/users/${alice.username}`)).status;
  t.deepEqual(statuses, {
    signUp: 201,
    logIn: 201,
    follow: 200,
    like: 204,
    comment: 201,
    edit: 200,
    readPost: 200,
    readProfile: 200,
  });
  // Counted by metadata-counters from the events (Postgres), shown from Postgres while Redis is away.
  await waitFor('the like and the comment counted during the outage', async () => {
    const body = (await call(fx.svc, 'GET', `/v1/posts/${post}`, { token: bob.token })).body;
    return body.likeCount === 1 && body.commentCount === 1;
  });

  await proxy.restore();
  // Writes made while Redis was away are not hidden behind the copies cached before it.
  await waitFor(
    'the writes made during the outage to show',
    async () => {
      const [p, profile] = await Promise.all([
        call(fx.svc, 'GET', `/v1/posts/${post}`, { token: bob.token }),
        call(fx.svc, 'GET', `/v1/users/${alice.username}`),
      ]);
      // viewerHasLiked: the like's own flag change was skipped (Redis away); metadata-cache repeats it
      // from the like's event once Redis answers (its batch fails meanwhile and is retried event by event).
      return (
        p.body.likeCount === 1 &&
        p.body.commentCount === 1 &&
        p.body.viewerHasLiked === true &&
        profile.body.displayName === 'Alice Outage'
      );
    },
    { timeoutMs: 5000 },
  );
  t.pass();
});
