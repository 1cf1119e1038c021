import { createEvent, type EventData } from '@instantpost/events';
import type { NotificationStore, NotificationTx } from '../store/notifications.ts';
import { type LikeChange, planLikeBatch } from './like-batch.ts';
import { createdData } from './present.ts';
import { followApprovedIntents, likeIntents } from './rules.ts';
import type { Intent, StoredNotification } from './types.ts';
import type { UnreadCounts } from './unread.ts';

const SOURCE = '/instantpost/notification';

export interface NotifierDeps {
  notifications: NotificationStore;
  unread: UnreadCounts;
  /** The durable consumer's name: the inbox key. */
  consumer: string;
  likeGroupWindowMs: number;
}

/**
 * The write side: turns intents into stored items on the recipient's shard, each event at most once
 * per recipient (inbox key `<event id>:<recipient>`), with `notification.created` in the same
 * transaction (outbox) and the cached unread count dropped after the commit.
 */
export function createNotifier(deps: NotifierDeps) {
  const { notifications, unread, consumer } = deps;

  /**
   * Runs `work` once per (event, recipient) on the recipient's shard, then applies the unread change it
   * returns. `prepare` (what the work reads first) is pipelined with the inbox insert: Postgres runs them
   * in that order in the transaction, but they cost one round trip, which counts on a busy machine.
   */
  async function once<P>(
    eventId: string,
    recipientId: string,
    prepare: (tx: NotificationTx) => Promise<P>,
    work: (tx: NotificationTx, prepared: P) => Promise<number>,
  ): Promise<void> {
    let delta = 0;
    let handledBefore = false;
    await notifications.inTransaction(recipientId, consumer, async (tx) => {
      const [fresh, prepared] = await Promise.all([tx.claim(`${eventId}:${recipientId}`), prepare(tx)]);
      if (fresh) delta = await work(tx, prepared);
      handledBefore = !fresh;
    });
    // A retry of a committed event: its count change may never have reached the cache (unread.forgetMany).
    if (handledBefore) await unread.forget(recipientId);
    else await unread.changed(recipientId, delta);
  }

  const nothing = async () => undefined;

  async function deliver(eventId: string, intent: Intent): Promise<void> {
    const postId = intent.kind === 'like' ? intent.postId : undefined;
    const prepare = async (tx: NotificationTx) =>
      postId === undefined ? undefined : likeGroupFor(tx, intent.recipientId, postId, intent.at);
    await once(eventId, intent.recipientId, prepare, async (tx, group) => {
      if (postId !== undefined && (await tx.undoneByUnlike({ ...intent, postId }))) return 0;
      let item: StoredNotification | undefined;
      let delta = 0;
      if (group !== undefined) {
        // Undefined when the actor already is in the group: nothing new to announce.
        item = await tx.joinGroup(intent.recipientId, group, intent.actorId, intent.at);
      } else {
        item = await tx.insertNotification(intent);
        delta = 1;
      }
      if (item !== undefined) {
        await tx.enqueue(createEvent('notification.created', createdData(item), { source: SOURCE }));
      }
      return delta;
    });
  }

  /** The open like group a like at `at` joins (locked for this transaction), if any. */
  async function likeGroupFor(tx: NotificationTx, recipientId: string, postId: string, at: Date) {
    // Pipelined too: the lookup runs after the lock is granted, so it sees the group a concurrent like opened.
    const [, group] = await Promise.all([
      tx.lockLikeGroups(recipientId, postId),
      tx.openLikeGroup(recipientId, postId, new Date(at.getTime() - deps.likeGroupWindowMs)),
    ]);
    return group;
  }

  /**
   * One shard's likes and unlikes of a batch in one transaction: the inbox keys claimed in one statement,
   * the like groups of every touched (recipient, post) locked in one (the same locks as the per-event
   * path) and read in one pipeline, the outcome decided in memory (like-batch.ts) and written back in one
   * more, then the announcements (outbox) in one insert. Returns each recipient's unread change.
   */
  async function likesOnShard(
    tx: NotificationTx,
    changes: readonly LikeChange[],
    handledBefore: Set<string>,
  ): Promise<Map<string, number>> {
    const [fresh, , state] = await Promise.all([
      tx.claimMany(changes.map((c) => `${c.eventId}:${c.recipientId}`)),
      tx.lockManyLikeGroups(changes),
      tx.likeBatchState(changes),
    ]);
    for (const c of changes)
      if (!fresh.has(`${c.eventId}:${c.recipientId}`)) handledBefore.add(c.recipientId);
    // each event once per recipient: a duplicate in the batch (or one handled before) does nothing
    const once = changes.filter((c) => fresh.delete(`${c.eventId}:${c.recipientId}`));
    if (once.length === 0) return new Map();
    const plan = planLikeBatch({ changes: once, ...state, windowMs: deps.likeGroupWindowMs });
    const announced = await tx.applyLikeBatch(plan);
    await tx.enqueue(
      announced.map((item) => createEvent('notification.created', createdData(item), { source: SOURCE })),
    );
    return plan.unread;
  }

  return {
    /**
     * Likes and unlikes of a batch of events, with the effect of `notify(likeIntents)` and `unlike` on each
     * in event-time order: one transaction per recipient shard, then the unread counts in one Redis round trip.
     */
    async likes(changes: readonly LikeChange[]): Promise<void> {
      const relevant = changes.filter((c) => c.actorId !== c.recipientId);
      const unreadChanges = new Map<string, number>();
      const handledBefore = new Set<string>();
      const outside = await notifications.perRecipientShard(
        consumer,
        relevant,
        (c) => c.recipientId,
        async (tx, items) => {
          for (const [recipientId, delta] of await likesOnShard(tx, items, handledBefore)) {
            unreadChanges.set(recipientId, delta);
          }
        },
      );
      await unread.changedMany(unreadChanges);
      await unread.forgetMany(handledBefore);
      // ids of no shard of the map: the per-event path reports them as it does for single events
      for (const c of outside) {
        const data = { postId: c.postId, postAuthorId: c.recipientId, userId: c.actorId };
        if (c.liked) await deliver(c.eventId, likeIntents(data, c.at)[0] as Intent);
        else await this.unlike(c.eventId, data, c.at);
      }
    },

    /**
     * `notify` for the events of a batch whose intents each make a new item (follows, comments, mentions;
     * not likes, which group): per recipient shard one transaction claims every (event, recipient) once,
     * inserts the fresh items in one statement and their `notification.created` in one more; then the
     * unread counts in one Redis round trip.
     */
    async notifyMany(events: readonly { eventId: string; intents: readonly Intent[] }[]): Promise<void> {
      const items = events.flatMap(({ eventId, intents }) => intents.map((intent) => ({ eventId, intent })));
      if (items.some(({ intent }) => intent.kind === 'like')) throw new Error('likes go through likes()');
      const unreadChanges = new Map<string, number>();
      const handledBefore = new Set<string>();
      const outside = await notifications.perRecipientShard(
        consumer,
        items,
        (item) => item.intent.recipientId,
        async (tx, mine) => {
          const fresh = await tx.claimMany(mine.map((m) => `${m.eventId}:${m.intent.recipientId}`));
          for (const m of mine)
            if (!fresh.has(`${m.eventId}:${m.intent.recipientId}`)) handledBefore.add(m.intent.recipientId);
          const once = mine.filter((m) => fresh.delete(`${m.eventId}:${m.intent.recipientId}`));
          for (const m of mine) unreadChanges.set(m.intent.recipientId, 0);
          const stored = await tx.insertNotifications(once.map((m) => m.intent));
          await tx.enqueue(
            stored.map((item) => createEvent('notification.created', createdData(item), { source: SOURCE })),
          );
          for (const item of stored) {
            unreadChanges.set(item.recipientId, (unreadChanges.get(item.recipientId) ?? 0) + 1);
          }
        },
      );
      await unread.changedMany(unreadChanges);
      await unread.forgetMany(handledBefore);
      for (const { eventId, intent } of outside) await deliver(eventId, intent);
    },

    /** Stores what one event means for each recipient. */
    async notify(eventId: string, intents: readonly Intent[]): Promise<void> {
      for (const intent of intents) await deliver(eventId, intent);
    },

    /**
     * An unlike before the recipient saw the like takes that actor out of the group; one handled before its
     * like (handlers run concurrently) is remembered, so that like is ignored when it arrives.
     */
    async unlike(eventId: string, data: EventData<'like.deleted'>, at: Date): Promise<void> {
      if (data.userId === data.postAuthorId) return;
      const lock = (tx: NotificationTx) => tx.lockLikeGroups(data.postAuthorId, data.postId);
      await once(eventId, data.postAuthorId, lock, async (tx) => {
        const unlike = { recipientId: data.postAuthorId, postId: data.postId, actorId: data.userId, at };
        await tx.rememberUnlike(unlike);
        return -(await tx.leaveUnreadLikeGroups(data.postAuthorId, data.postId, data.userId));
      });
    },

    /** The approver's request item becomes a follow; the requester is told it was accepted. */
    async followApproved(eventId: string, data: EventData<'follow.approved'>, at: Date): Promise<void> {
      if (data.followerId === data.followeeId) return;
      await once(eventId, data.followeeId, nothing, async (tx) => {
        await tx.convertFollowRequests(data.followeeId, data.followerId);
        return 0;
      });
      for (const intent of followApprovedIntents(data, at)) await deliver(eventId, intent);
    },

    /**
     * A deleted post takes its notifications along: the author's likes and comments and the mentions of
     * people on any shard, so every shard is asked (once per event and shard, through the inbox).
     */
    async postDeleted(eventId: string, data: EventData<'post.deleted'>): Promise<void> {
      const removed = await notifications.inEveryShard(consumer, async (tx) => {
        if (!(await tx.claimOnShard(eventId))) return [];
        return tx.deletePostNotifications(data.postId);
      });
      for (const { recipientId, unread: count } of removed.flat()) await unread.changed(recipientId, -count);
    },

    /** A withdrawn (or denied) request disappears from the private account's list. */
    async followDeleted(eventId: string, data: EventData<'follow.deleted'>): Promise<void> {
      if (data.followerId === data.followeeId) return;
      await once(
        eventId,
        data.followeeId,
        nothing,
        async (tx) => -(await tx.deleteFollowRequests(data.followeeId, data.followerId)),
      );
    },
  };
}

export type Notifier = ReturnType<typeof createNotifier>;
