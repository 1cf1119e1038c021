import { signAccessToken } from '@instantpost/http';
import { formatId } from '@instantpost/ids';
import test from 'ava';
import {
  createUser,
  type Item,
  list,
  listen,
  type NotificationService,
  openSse,
  openWorld,
  type World,
  waitFor,
} from './helpers.ts';

// Two instances on one namespace, listening on real ports. Instance 1 runs no event consumer, so
// every notification its clients get was produced by instance 2 and fanned out between replicas.
let world: World;
let one: NotificationService;
let two: NotificationService;
let url1: string;
let url2: string;

test.before(async () => {
  world = await openWorld();
  one = await world.start({ NOTIFICATION_CONSUME_EVENTS: 'false', NOTIFICATION_SSE_HEARTBEAT_MS: '200' });
  two = await world.start();
  url1 = await listen(one);
  url2 = await listen(two);
});

test.after.always(async () => {
  await world?.close();
});

let seq = 1;
const postId = () => formatId(BigInt(Date.now()) * 1000n + BigInt(seq++));

test('a client on instance 1 gets, over SSE, a notification made by instance 2; heartbeats keep it open', async (t) => {
  const owner = await createUser(world, `owner${seq++}`, 2);
  const fan = await createUser(world, `fan${seq++}`, 11);
  // The accounts are known before the like, as they are when a person signs up and then likes: events are
  // handled in concurrent batches, so a like published right behind its liker's account.created may be
  // pushed before the name is stored (the list names the actor at read time; the pushed item would not).
  await world.settled();
  const stream = await openSse(`${url1}/v1/notifications/stream?access_token=${owner.token}`);
  t.is(stream.status, 200);
  t.is(stream.contentType, 'text/event-stream; charset=utf-8');
  try {
    const post = postId();
    await world.publish('like.created', { postId: post, postAuthorId: owner.id, userId: fan.id });
    const [event] = await stream.waitForEvents(1);
    const item = JSON.parse(event?.data ?? '{}') as Item;
    t.is(item.type, 'like');
    t.is(item.postId, post);
    t.is(item.actors[0]?.id, fan.id);
    t.is(item.actorCount, 1);
    t.truthy(event?.id, 'each event carries an id for Last-Event-ID');
    // The same item as the list shows it.
    t.deepEqual((await list(one, owner)).items[0], item);

    // A second like grows the group: the item is sent again, same id, actorCount 2.
    const other = await createUser(world, `other${seq++}`, 7);
    await world.settled();
    await world.publish('like.created', { postId: post, postAuthorId: owner.id, userId: other.id });
    const events = await stream.waitForEvents(2);
    const grown = JSON.parse(events[1]?.data ?? '{}') as Item;
    t.is(grown.id, item.id);
    t.is(grown.actorCount, 2);

    await waitFor('a heartbeat comment line', () => stream.comments.includes('heartbeat'));
    t.pass();
  } finally {
    stream.close();
  }
});

test('a reconnect with Last-Event-ID replays what was missed, oldest first', async (t) => {
  const me = await createUser(world, `me${seq++}`, 5);
  const a = await createUser(world, `a${seq++}`, 9);
  const b = await createUser(world, `b${seq++}`, 13);
  const c = await createUser(world, `c${seq++}`, 1);
  const first = await openSse(`${url1}/v1/notifications/stream`, { authorization: `Bearer ${me.token}` });
  await world.publish('follow.created', { followerId: a.id, followeeId: me.id, state: 'following' });
  const [seen] = await first.waitForEvents(1);
  first.close();

  await world.publish('follow.created', { followerId: b.id, followeeId: me.id, state: 'requested' });
  await world.publish('comment.created', {
    commentId: postId(),
    postId: postId(),
    postAuthorId: me.id,
    userId: c.id,
    text: 'hi',
    mentions: [],
  });
  await waitFor(
    'the missed notifications to be stored',
    async () => (await list(two, me)).items.length === 3,
  );

  // Reconnect to the other instance, as a browser's EventSource would after a dropped connection.
  const again = await openSse(`${url2}/v1/notifications/stream?access_token=${me.token}`, {
    'last-event-id': seen?.id ?? '',
  });
  try {
    const replayed = await again.waitForEvents(2);
    const items = replayed.map((e) => JSON.parse(e.data) as Item);
    // The two events were handled concurrently: the replay follows the order they were stored in.
    t.deepEqual(
      items.map((i) => `${i.type}:${i.actors[0]?.id}`).sort(),
      [`comment:${c.id}`, `follow_request:${b.id}`].sort(),
    );
    const ids = replayed.map((e) => BigInt(e.id ?? '0'));
    t.true((ids[0] ?? 0n) < (ids[1] ?? 0n), 'replayed oldest first');
    t.true((ids[0] ?? 0n) > BigInt(seen?.id ?? '0'), 'only what came after Last-Event-ID');
    t.false(
      items.some((i) => i.actors[0]?.id === a.id),
      'what the client already had is not sent again',
    );
    // And live events continue on the replayed stream.
    await world.publish('follow.created', { followerId: a.id, followeeId: me.id, state: 'following' });
    const all = await again.waitForEvents(3);
    t.is(all.length, 3);
  } finally {
    again.close();
  }
});

test('the stream needs a valid token: 401 otherwise', async (t) => {
  const me = await createUser(world, `tok${seq++}`, 4);
  const none = await openSse(`${url1}/v1/notifications/stream`);
  t.is(none.status, 401);
  t.regex(none.body, /"status":401/);
  const wrong = await openSse(`${url1}/v1/notifications/stream?access_token=${me.token}x`);
  t.is(wrong.status, 401);
  const wrongHeader = await openSse(`${url2}/v1/notifications/stream`, { authorization: 'Bearer nope' });
  t.is(wrongHeader.status, 401);
  // The query token is only taken on the stream: the list wants the header.
  const listByQuery = await one.app.inject({
    method: 'GET',
    url: `/v1/notifications?access_token=${me.token}`,
  });
  t.is(listByQuery.statusCode, 401);
  const badId = await openSse(`${url1}/v1/notifications/stream?access_token=${me.token}`, {
    'last-event-id': 'abc',
  });
  t.is(badId.status, 400);
});

/** A token that names a session, as metadata issues them. */
const sessionToken = (user: { id: string; username: string }, sid: string, ttlSeconds = 600) =>
  signAccessToken(world.keys.privateKey, { sub: user.id, username: user.username, sid }, ttlSeconds);

test('a sixth stream of one user closes the oldest, whichever instance holds it', async (t) => {
  const me = await createUser(world, `many${seq++}`, 5);
  const streams = [];
  for (let i = 0; i < 5; i++) {
    streams.push(await openSse(`${i % 2 ? url2 : url1}/v1/notifications/stream?access_token=${me.token}`));
  }
  try {
    t.true(streams.every((s) => s.status === 200));
    const sixth = await openSse(`${url2}/v1/notifications/stream?access_token=${me.token}`);
    streams.push(sixth);
    t.is(sixth.status, 200);
    await streams[0]?.waitForEnd();
    t.deepEqual(
      streams.map((s) => s.ended),
      [true, false, false, false, false, false],
      'only the oldest ended (it was on instance 1; the sixth opened on instance 2)',
    );
    // Other users are not affected by this user's streams.
    const other = await createUser(world, `few${seq++}`, 6);
    const theirs = await openSse(`${url1}/v1/notifications/stream?access_token=${other.token}`);
    streams.push(theirs);
    t.is(theirs.status, 200);
  } finally {
    for (const s of streams) s.close();
  }
});

test('when a session ends, its streams on every instance close; other sessions stay open', async (t) => {
  const me = await createUser(world, `bye${seq++}`, 3);
  const sid = postId();
  const ending = [
    await openSse(`${url1}/v1/notifications/stream?access_token=${sessionToken(me, sid)}`),
    await openSse(`${url2}/v1/notifications/stream?access_token=${sessionToken(me, sid)}`),
  ];
  const staying = await openSse(`${url1}/v1/notifications/stream?access_token=${sessionToken(me, postId())}`);
  try {
    t.true([...ending, staying].every((s) => s.status === 200));
    await world.publish('session.revoked', {
      userId: me.id,
      sessionId: sid,
      revokedAt: new Date().toISOString(),
      reason: 'logout',
    });
    await Promise.all(ending.map((s) => s.waitForEnd(5000)));
    t.false(staying.ended);
    const again = await openSse(`${url2}/v1/notifications/stream?access_token=${sessionToken(me, sid)}`);
    t.is(again.status, 401, 'the ended session cannot open a new stream');
  } finally {
    for (const s of [...ending, staying]) s.close();
  }
});

test('a stream ends when its token expires (the client reconnects with a fresh one)', async (t) => {
  const me = await createUser(world, `brief${seq++}`, 1);
  const stream = await openSse(
    `${url2}/v1/notifications/stream?access_token=${sessionToken(me, postId(), 2)}`,
  );
  try {
    t.is(stream.status, 200);
    t.false(stream.ended);
    await stream.waitForEnd(10_000);
    t.pass();
  } finally {
    stream.close();
  }
});
