import type { Shards } from '@instantpost/shards';
import { listNotifications, markRead, notificationById, notificationsSince } from '../store/notifications.ts';

import { usersByIds } from '../store/users.ts';
import { toItem } from './present.ts';
import type { NotificationItem, StoredNotification } from './types.ts';
import type { UnreadCounts } from './unread.ts';

/** An item with the version it was announced at (the SSE event id). */
export interface StreamEntry {
  readonly version: string;
  readonly item: NotificationItem;
}

export interface Page {
  items: NotificationItem[];
  /** The version of the last item when more may follow (the route makes it an opaque cursor). */
  nextVersion: string | null;
  unreadCount: number;
}

/** The read side: lists, unread counts (Redis, recounted from Postgres when missing), read marks. */
export function createReader(deps: { shards: Shards; unread: UnreadCounts }) {
  const { shards, unread } = deps;

  async function entries(rows: readonly StoredNotification[]): Promise<StreamEntry[]> {
    const users = await usersByIds(
      shards,
      rows.flatMap((r) => r.actorIds),
    );
    return rows.map((r) => ({ version: r.version, item: toItem(r, users) }));
  }

  const unreadCount = (userId: string) => unread.count(userId);

  return {
    unreadCount,

    async list(userId: string, beforeVersion: string | undefined, limit: number): Promise<Page> {
      const shard = shards.forId(userId);
      const [rows, count] = await Promise.all([
        listNotifications(shard.sql, shard.schema, userId, beforeVersion, limit + 1),
        unreadCount(userId),
      ]);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        items: (await entries(page)).map((e) => e.item),
        nextVersion: rows.length > limit && last ? last.version : null,
        unreadCount: count,
      };
    },

    /**
     * Marks everything read, or everything announced up to the item `upTo` (as listed). Returns false
     * when `upTo` is not one of the user's items.
     */
    async markRead(userId: string, upTo: string | undefined): Promise<boolean> {
      const shard = shards.forId(userId);
      let upToVersion: string | undefined;
      if (upTo !== undefined) {
        const item = await notificationById(shard.sql, shard.schema, userId, upTo);
        if (!item) return false;
        upToVersion = item.version;
      }
      await markRead(shard.sql, shard.schema, userId, upToVersion);
      await unread.forget(userId);
      return true;
    },

    /** One item as the stream sends it; undefined when it is gone (an unliked group emptied). */
    async entry(recipientId: string, notificationId: string): Promise<StreamEntry | undefined> {
      const shard = shards.forId(recipientId);
      const row = await notificationById(shard.sql, shard.schema, recipientId, notificationId);
      return row ? (await entries([row]))[0] : undefined;
    },

    /** What a stream that last saw `afterVersion` missed, oldest first. */
    async missed(recipientId: string, afterVersion: string, limit: number): Promise<StreamEntry[]> {
      const shard = shards.forId(recipientId);
      return entries(await notificationsSince(shard.sql, shard.schema, recipientId, afterVersion, limit));
    },
  };
}

export type Reader = ReturnType<typeof createReader>;
