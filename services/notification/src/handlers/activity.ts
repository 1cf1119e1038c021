import { defineConsumer } from '@instantpost/bus';
import type { Notifier } from '../domain/notifier.ts';
import { commentIntents, followIntents, likeIntents, postMentionIntents } from '../domain/rules.ts';
import type { UserStore } from '../store/users.ts';

export const ACTIVITY_CONSUMER = 'notification-activity';

/**
 * The one durable consumer of notification: every event that makes (or unmakes) an item, plus the
 * account events that give actors their names. Malformed events are dead-lettered by the runner;
 * duplicates are absorbed by the inbox (per event and recipient) and by upserts for accounts.
 */
export function activityConsumer(deps: {
  notifier: Notifier;
  users: Pick<UserStore, 'saveAccount'>;
  concurrency: number;
}) {
  const { notifier, users } = deps;
  return defineConsumer({
    name: ACTIVITY_CONSUMER,
    description: 'notifications from follows, likes, comments and mentions; actor names from accounts',
    subjects: [
      'account.created',
      'account.updated',
      'follow.created',
      'follow.approved',
      'follow.deleted',
      'post.published',
      'post.deleted',
      'like.created',
      'like.deleted',
      'comment.created',
    ],
    settings: { concurrency: deps.concurrency },
    handlers: {
      'account.created': async (event) => {
        const d = event.data;
        await users.saveAccount({
          userId: d.userId,
          username: d.username,
          displayName: d.displayName,
          at: new Date(event.time),
        });
      },
      'account.updated': async (event) => {
        const d = event.data;
        await users.saveAccount({ userId: d.userId, displayName: d.displayName, at: new Date(event.time) });
      },
      'follow.created': (event) => notifier.notify(event.id, followIntents(event.data, new Date(event.time))),
      'follow.approved': (event) => notifier.followApproved(event.id, event.data, new Date(event.time)),
      'follow.deleted': (event) => notifier.followDeleted(event.id, event.data),
      'post.published': (event) =>
        notifier.notify(event.id, postMentionIntents(event.data, new Date(event.time))),
      'post.deleted': (event) => notifier.postDeleted(event.id, event.data),
      'like.created': (event) => notifier.notify(event.id, likeIntents(event.data, new Date(event.time))),
      'like.deleted': (event) => notifier.unlike(event.id, event.data, new Date(event.time)),
      'comment.created': (event) =>
        notifier.notify(event.id, commentIntents(event.data, new Date(event.time))),
    },
  });
}
