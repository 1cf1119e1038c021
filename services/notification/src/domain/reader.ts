import type { NotificationStore } from '../store/notifications.ts';
import type { UserStore } from '../store/users.ts';
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
export function createReader(deps: {
  notifications: NotificationStore;
  users: Pick<UserStore, 'usersByIds'>;
  unread: UnreadCounts;
}) {
  const { notifications, users: userNames, unread } = deps;

  async function entries(rows: readonly StoredNotification[]): Promise<StreamEntry[]> {
    const users = await userNames.usersByIds(rows.flatMap((r) => r.actorIds));
    return rows.map((r) => ({ version: r.version, item: toItem(r, users) }));
  }

  const unreadCount = (userId: string) => unread.count(userId);

  return {
    unreadCount,

    async list(userId: string, beforeVersion: string | undefined, limit: number): Promise<Page> {
      const [rows, count] = await Promise.all([
        notifications.listNotifications(userId, beforeVersion, limit + 1),
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
      let upToVersion: string | undefined;
      if (upTo !== undefined) {
        const item = await notifications.notificationById(userId, upTo);
        if (!item) return false;
        upToVersion = item.version;
      }
      await notifications.markRead(userId, upToVersion);
      await unread.forget(userId);
      return true;
    },

    /** One item as the stream sends it; undefined when it is gone (an unliked group emptied). */
    async entry(recipientId: string, notificationId: string): Promise<StreamEntry | undefined> {
      const row = await notifications.notificationById(recipientId, notificationId);
      return row ? (await entries([row]))[0] : undefined;
    },

    /** What a stream that last saw `afterVersion` missed, oldest first. */
    async missed(recipientId: string, afterVersion: string, limit: number): Promise<StreamEntry[]> {
      return entries(await notifications.notificationsSince(recipientId, afterVersion, limit));
    },
  };
}

export type Reader = ReturnType<typeof createReader>;
