import { streamNameFor } from '@instantpost/bus';
import { createEvent } from '@instantpost/events';
import { formatId } from '@instantpost/ids';
import test from 'ava';
import { createUser, list, type NotificationService, openWorld, type User, type World } from './helpers.ts';

// Likes arrive in batches: the consumer hands the first deliveries a pull brings to one batch handler, and
// the batch's likes and unlikes are written together (one transaction per recipient shard). Each test
// publishes its events while no instance runs, then starts one: the pull finds them all waiting, so they
// are handled in one batch (or a few), as under load. Serial: one instance at a time.

let world: World;

test.before(async () => {
  world = await openWorld();
  // the first instance migrates and declares the streams and the durable consumer
  await (await world.start()).close();
});

test.after.always(async () => {
  await world?.close();
});

let seq = 1;
const postId = () => formatId(BigInt(Date.now()) * 1000n + BigInt(seq++));

async function users(...names: string[]): Promise<User[]> {
  // Spread over both physical databases (shards 0-7 and 8-15).
  return Promise.all(names.map((name, i) => createUser(world, `${name}${seq++}`, (i * 5) % 16)));
}

/**
 * Starts an instance, waits until it has handled everything published, checks that no batch failed (a
 * failed batch is retried event by event, which would hide a fault of the batch path behind the per-event
 * one), runs `check`, stops it.
 */
async function handled(check: (svc: NotificationService) => Promise<void>): Promise<void> {
  const svc = await world.start();
  try {
    await world.settled();
    const metrics = await svc.app.inject({ method: 'GET', url: '/metrics' });
    const retried = metrics.body
      .split('\n')
      .filter((line) => line.startsWith('instantpost_consumer_outcomes_total') && line.includes('"retried"'));
    if (retried.some((line) => !line.endsWith(' 0')))
      throw new Error(`a batch failed: ${retried.join('; ')}`);
    await check(svc);
  } finally {
    await svc.close();
  }
}

test.serial(
  'a burst of likes of one post is one item with every liker counted and the latest three shown',
  async (t) => {
    const [owner, ...likers] = await users('star', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h');
    if (!owner) throw new Error('users');
    const post = postId();
    const start = Date.now() - 60_000;
    // 8 likes published at once, one second apart in event time
    await Promise.all(
      likers.map((liker, i) =>
        world.publisher.publish(
          createEvent(
            'like.created',
            { postId: post, postAuthorId: owner.id, userId: liker.id },
            { source: '/instantpost/metadata', time: new Date(start + i * 1000) },
          ),
        ),
      ),
    );
    await handled(async (svc) => {
      const body = await list(svc, owner);
      t.is(body.items.length, 1, 'one grouped item');
      t.is(body.items[0]?.actorCount, 8);
      t.deepEqual(
        body.items[0]?.actors.map((a) => a.username),
        likers
          .slice(-3)
          .reverse()
          .map((l) => l.username),
        'the three latest likers, latest first, with their names',
      );
      t.is(body.items[0]?.createdAt, new Date(start + 7000).toISOString(), "the latest like's time");
      t.is(body.unreadCount, 1);
      const created = (await world.createdEvents()).filter((e) => e.data.recipientId === owner.id);
      t.true(created.length >= 1, 'the group is announced');
      t.deepEqual(
        created.at(-1)?.data,
        {
          notificationId: body.items[0]?.id,
          recipientId: owner.id,
          type: 'like',
          actorIds: body.items[0]?.actors.map((a) => a.id),
          actorCount: 8,
          postId: post,
        },
        'the last announcement carries the whole group',
      );
    });
  },
);

test.serial(
  'a second burst joins the unread group: one item, counted once per liker, announced again',
  async (t) => {
    const [owner, ...likers] = await users('star2', 'a', 'b', 'c', 'd', 'e');
    if (!owner) throw new Error('users');
    const post = postId();
    const start = Date.now() - 60_000;
    const likeAt = (liker: User, s: number) =>
      world.publisher.publish(
        createEvent(
          'like.created',
          { postId: post, postAuthorId: owner.id, userId: liker.id },
          { source: '/instantpost/metadata', time: new Date(start + s * 1000) },
        ),
      );
    await Promise.all(likers.slice(0, 3).map((liker, i) => likeAt(liker, i)));
    let first = '';
    await handled(async (svc) => {
      const body = await list(svc, owner);
      t.deepEqual(
        body.items.map((i) => i.actorCount),
        [3],
      );
      first = body.items[0]?.id ?? '';
    });
    // the rest, and one of the first three again with a new event (liked twice: counted once)
    await Promise.all([
      ...likers.slice(3).map((liker, i) => likeAt(liker, 10 + i)),
      likeAt(likers[0] as User, 20),
    ]);
    await handled(async (svc) => {
      const body = await list(svc, owner);
      t.deepEqual(
        body.items.map((i) => [i.id, i.actorCount, i.createdAt]),
        [[first, 5, new Date(start + 11_000).toISOString()]],
      );
      t.is(body.unreadCount, 1);
      const created = (await world.createdEvents()).filter((e) => e.data.notificationId === first);
      t.is(created.at(-1)?.data.actorCount, 5, 'announced again with the grown group');
    });
  },
);

test.serial('a batch delivered again (same event ids) changes nothing', async (t) => {
  const [owner, x, y] = await users('dup', 'x', 'y');
  if (!owner || !x || !y) throw new Error('users');
  const post = postId();
  const events = [x, y].map((liker) =>
    createEvent(
      'like.created',
      { postId: post, postAuthorId: owner.id, userId: liker.id },
      { source: '/instantpost/metadata' },
    ),
  );
  const unlike = createEvent(
    'like.deleted',
    { postId: post, postAuthorId: owner.id, userId: x.id },
    { source: '/instantpost/metadata', time: new Date(Date.now() + 1000) },
  );
  // Core publishes (no Nats-Msg-Id): JetStream stores every copy; the inbox has to absorb them.
  for (const event of events) await world.publishRaw(event.type, JSON.stringify(event));
  for (const event of events) await world.publishRaw(event.type, JSON.stringify(event));
  await handled(async (svc) => {
    const body = await list(svc, owner);
    t.deepEqual(
      body.items.map((i) => [i.type, i.actorCount]),
      [['like', 2]],
    );
    t.is(body.unreadCount, 1);
  });
  // The unlike, then the same likes once more (a replay): x stays out, y stays in, still one item.
  await world.publishRaw(unlike.type, JSON.stringify(unlike));
  for (const event of events) await world.publishRaw(event.type, JSON.stringify(event));
  await handled(async (svc) => {
    const body = await list(svc, owner);
    t.deepEqual(
      body.items.map((i) => [i.actorCount, i.actors.map((a) => a.id)]),
      [[1, [y.id]]],
    );
    t.is(body.unreadCount, 1);
  });
});

test.serial('a malformed event in a batch is dead-lettered and its neighbours are handled', async (t) => {
  const [owner, p, q] = await users('mal', 'p', 'q');
  if (!owner || !p || !q) throw new Error('users');
  const post = postId();
  const bad = createEvent(
    'like.created',
    { postId: post, postAuthorId: owner.id, userId: p.id },
    { source: '/instantpost/metadata' },
  );
  await world.publish('like.created', { postId: post, postAuthorId: owner.id, userId: p.id });
  await world.publishRaw('like.created', JSON.stringify({ ...bad, data: { postId: 12, userId: p.id } }));
  await world.publish('like.created', { postId: post, postAuthorId: owner.id, userId: q.id });
  await handled(async (svc) => {
    const body = await list(svc, owner);
    t.deepEqual(
      body.items.map((i) => [i.type, i.actorCount]),
      [['like', 2]],
    );
    const jsm = await world.nc.jetstreamManager();
    const dlq = await jsm.streams.getMessage(streamNameFor('DLQ', world.ns.nats.prefix), {
      last_by_subj: `${world.ns.nats.prefix}.dlq.like.created`,
    });
    const letter = dlq.json<{ event: { id: string }; error: { code: string } }>();
    t.is(letter.event.id, bad.id);
    t.is(letter.error.code, 'SCHEMA_VIOLATION');
  });
});

test.serial(
  'a like and its unlike in the same batch leave nothing; a like after the unlike notifies',
  async (t) => {
    const [owner, fan, other] = await users('undo', 'fan', 'other');
    if (!owner || !fan || !other) throw new Error('users');
    const post = postId();
    const data = { postId: post, postAuthorId: owner.id, userId: fan.id };
    const t0 = Date.now() - 10_000;
    const source = '/instantpost/metadata';
    await world.publisher.publish(createEvent('like.created', data, { source, time: new Date(t0) }));
    await world.publisher.publish(createEvent('like.deleted', data, { source, time: new Date(t0 + 1000) }));
    // another post of the owner: liked, unliked, liked again
    const again = postId();
    const data2 = { postId: again, postAuthorId: owner.id, userId: other.id };
    await world.publisher.publish(createEvent('like.created', data2, { source, time: new Date(t0) }));
    await world.publisher.publish(createEvent('like.deleted', data2, { source, time: new Date(t0 + 1000) }));
    await world.publisher.publish(createEvent('like.created', data2, { source, time: new Date(t0 + 2000) }));
    await handled(async (svc) => {
      const body = await list(svc, owner);
      t.deepEqual(
        body.items.map((i) => [i.postId, i.actorCount, i.actors.map((a) => a.id)]),
        [[again, 1, [other.id]]],
        'nothing about the undone like; the like after the unlike is there',
      );
      t.is(body.unreadCount, 1);
    });
  },
);

test.serial(
  'follows, comments and mentions of one batch: one item each, counted once, in event order',
  async (t) => {
    const [owner, fan, pal] = await users('items', 'fan', 'pal');
    if (!owner || !fan || !pal) throw new Error('users');
    const post = postId();
    const comment = postId();
    const start = Date.now() - 60_000;
    const source = '/instantpost/metadata';
    const follow = createEvent(
      'follow.created',
      { followerId: fan.id, followeeId: owner.id, state: 'following' },
      { source, time: new Date(start) },
    );
    await world.publisher.publish(follow);
    await world.publishRaw('follow.created', JSON.stringify(follow)); // the same event again
    await world.publisher.publish(
      createEvent(
        'comment.created',
        {
          commentId: comment,
          postId: post,
          postAuthorId: owner.id,
          userId: fan.id,
          text: 'hi @pal',
          mentions: [{ userId: pal.id, username: pal.username }],
        },
        { source, time: new Date(start + 1000) },
      ),
    );
    await world.publisher.publish(
      createEvent(
        'follow.created',
        { followerId: pal.id, followeeId: owner.id, state: 'requested' },
        { source, time: new Date(start + 2000) },
      ),
    );
    await handled(async (svc) => {
      const forOwner = await list(svc, owner);
      t.deepEqual(
        forOwner.items.map((i) => [i.type, i.actors[0]?.id, i.postId ?? null, i.commentId ?? null]),
        [
          ['follow_request', pal.id, null, null],
          ['comment', fan.id, post, comment],
          ['follow', fan.id, null, null],
        ],
      );
      t.is(forOwner.unreadCount, 3);
      const forPal = await list(svc, pal);
      t.deepEqual(
        forPal.items.map((i) => [i.type, i.actors[0]?.id, i.postId ?? null, i.commentId ?? null]),
        [['mention', fan.id, post, comment]],
      );
      const created = (await world.createdEvents()).filter((e) => e.data.recipientId === owner.id);
      t.is(created.length, 3, 'each item announced once');
    });
  },
);
