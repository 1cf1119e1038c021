import { defineConsumer, projectionBatching } from '@instantpost/bus';
import type { CloudEvent } from '@instantpost/events';
import type { LikeChange } from '../domain/like-batch.ts';
import type { Notifier } from '../domain/notifier.ts';
import { commentIntents, followIntents, likeIntents, postMentionIntents } from '../domain/rules.ts';
import type { Intent } from '../domain/types.ts';
import type { PageCache } from '../store/pages.ts';
import type { AccountChange, UserStore } from '../store/users.ts';

export const ACTIVITY_CONSUMER = 'notification-activity';

/** The events this consumer reads (its `subjects`, written out there for deploy/k8s-checks' NATS permissions). */
type ActivityEvent = CloudEvent<
  | 'account.created'
  | 'account.updated'
  | 'follow.created'
  | 'follow.approved'
  | 'follow.deleted'
  | 'post.published'
  | 'post.deleted'
  | 'like.created'
  | 'like.deleted'
  | 'comment.created'
>;

/**
 * The one durable consumer of notification: every event that makes (or unmakes) an item, plus the
 * account events that give actors their names. Malformed events are dead-lettered by the runner;
 * duplicates are absorbed by the inbox (per event and recipient) and by upserts for accounts.
 *
 * First deliveries come in batches: the batch's likes and unlikes are written together (one transaction
 * per database for its recipient shards, `notifier.likes`); its other events go through their handlers one
 * by one, in order. A batch that fails is retried event by event (libs/bus), through the same handlers as a
 * redelivery.
 */
export function activityConsumer(deps: {
  notifier: Notifier;
  users: Pick<UserStore, 'saveAccount'>;
  /** Cached first pages showing an actor whose name changed are dropped. */
  pages: Pick<PageCache, 'namesChanged'>;
  concurrency: number;
}) {
  const { notifier, users, pages } = deps;
  const saveAccount = async (change: AccountChange) => {
    await users.saveAccount(change);
    await pages.namesChanged(change.userId);
  };
  const handle = async (event: ActivityEvent): Promise<void> => {
    const at = new Date(event.time);
    switch (event.type) {
      case 'account.created': {
        const d = event.data;
        return saveAccount({ userId: d.userId, username: d.username, displayName: d.displayName, at });
      }
      case 'account.updated':
        return saveAccount({ userId: event.data.userId, displayName: event.data.displayName, at });
      case 'follow.created':
        return notifier.notify(event.id, followIntents(event.data, at));
      case 'follow.approved':
        return notifier.followApproved(event.id, event.data, at);
      case 'follow.deleted':
        return notifier.followDeleted(event.id, event.data);
      case 'post.published':
        return notifier.notify(event.id, postMentionIntents(event.data, at));
      case 'post.deleted':
        return notifier.postDeleted(event.id, event.data);
      case 'like.created':
        return notifier.notify(event.id, likeIntents(event.data, at));
      case 'like.deleted':
        return notifier.unlike(event.id, event.data, at);
      case 'comment.created':
        return notifier.notify(event.id, commentIntents(event.data, at));
    }
  };
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
    // A batch's writes cost about the same for 100 events as for 250 (one transaction per database, each
    // shard's statements set-based): `npm run bench -- notification`, saturated, 12,000 events: batches of
    // 100 → 1,912-2,054 events/s, 250 → 2,504-2,544, 500 → 2,632-2,672.
    settings: projectionBatching(deps.concurrency),
    handlers: {
      'account.created': handle,
      'account.updated': handle,
      'follow.created': handle,
      'follow.approved': handle,
      'follow.deleted': handle,
      'post.published': handle,
      'post.deleted': handle,
      'like.created': handle,
      'like.deleted': handle,
      'comment.created': handle,
    },
    // A run of likes and unlikes is written together, and so is a run of events that make new items
    // (follows, comments, mentions); any other event first writes the run before it, so the batch's items
    // are stored in the order of its events.
    handleBatch: async (events) => {
      let likes: LikeChange[] = [];
      let inserts: { eventId: string; intents: Intent[] }[] = [];
      const flush = async () => {
        await notifier.likes(likes);
        likes = [];
        await notifier.notifyMany(inserts);
        inserts = [];
      };
      for (const event of events) {
        const newItems =
          event.type === 'follow.created'
            ? followIntents(event.data, new Date(event.time))
            : event.type === 'comment.created'
              ? commentIntents(event.data, new Date(event.time))
              : event.type === 'post.published'
                ? postMentionIntents(event.data, new Date(event.time))
                : undefined;
        if (newItems) {
          if (likes.length > 0) await flush();
          inserts.push({ eventId: event.id, intents: newItems });
          continue;
        }
        if (event.type === 'like.created' || event.type === 'like.deleted') {
          if (inserts.length > 0) await flush();
          likes.push({
            eventId: event.id,
            liked: event.type === 'like.created',
            recipientId: event.data.postAuthorId,
            postId: event.data.postId,
            actorId: event.data.userId,
            at: new Date(event.time),
          });
          continue;
        }
        await flush();
        await handle(event);
      }
      await flush();
    },
  });
}
