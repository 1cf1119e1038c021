import { natsSubjectFor } from '@instantpost/bus';
import type { CloudEvent, EventSubject } from '@instantpost/events';
import test from 'ava';
import {
  createUser,
  list,
  type NotificationService,
  openWorld,
  type User,
  userId,
  type World,
} from './helpers.ts';

// A handler commits its notifications, then drops the cached unread count in Redis. A process that dies
// in between leaves the count short, and the event comes back (JetStream redelivers it): the retry finds it
// handled already (inbox) and must not trust the cached count any more.
let world: World;
let svc: NotificationService;

test.before(async () => {
  world = await openWorld();
  svc = await world.start();
});
test.after.always(async () => {
  await world?.close();
});

/** The same event delivered again, as a redelivery after a crash would: same id, a new stream message. */
async function deliverAgain(event: CloudEvent<EventSubject>): Promise<void> {
  const subject = natsSubjectFor(event.type, world.ns.nats.prefix);
  await world.nc.jetstream().publish(subject, JSON.stringify(event), { msgID: `again-${event.id}` });
}

/**
 * `event` comes back after a crash between its commit and the Redis drop, which left `user`'s cached count
 * at `cachedCount` (without the change); what the user then lists.
 */
async function retriedAfterLostCount(event: CloudEvent<EventSubject>, user: User, cachedCount: number) {
  await svc.infra.redis.set(`unread:${user.id}`, cachedCount, 'KEEPTTL');
  await deliverAgain(event);
  await world.settled();
  return list(svc, user);
}

test('a comment or a like handled again after a crash before its count was cached: the count is the list again', async (t) => {
  const author = await createUser(world, 'retried_author', 1);
  const fan = await createUser(world, 'retried_fan', 2);
  const post = userId(1);
  await world.settled();

  const comment = await world.publish('comment.created', {
    commentId: userId(2),
    postId: post,
    postAuthorId: author.id,
    userId: fan.id,
    text: 'lovely',
    mentions: [],
  });
  await world.settled();
  t.is((await list(svc, author)).unreadCount, 1, 'counted (and cached)');
  const afterComment = await retriedAfterLostCount(comment, author, 0);
  t.is(afterComment.items.length, 1, 'stored once');
  t.is(afterComment.unreadCount, 1, 'the retried comment: the cached count is not trusted');

  const like = await world.publish('like.created', { postId: post, postAuthorId: author.id, userId: fan.id });
  await world.settled();
  t.is((await list(svc, author)).unreadCount, 2);
  const afterLike = await retriedAfterLostCount(like, author, 1);
  t.is(afterLike.items.length, 2, 'stored once');
  t.is(afterLike.unreadCount, 2, 'the retried like: the cached count is not trusted');
});
