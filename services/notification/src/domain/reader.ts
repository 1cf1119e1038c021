import { BoundedMap } from '@instantpost/chassis';
import { jsonInt, jsonString, keepJson } from '@instantpost/http';
import type { NotificationStore } from '../store/notifications.ts';
import { KEPT_PAGES, type PageCache } from '../store/pages.ts';
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
  pages?: Pick<PageCache, 'get' | 'fill' | 'showing'>;
}) {
  const { notifications, users: userNames, unread } = deps;

  async function entries(rows: readonly StoredNotification[]): Promise<StreamEntry[]> {
    const users = await userNames.usersByIds(rows.flatMap((r) => r.actorIds));
    return rows.map((r) => ({ version: r.version, item: toItem(r, users) }));
  }

  const unreadCount = (userId: string) => unread.count(userId);

  /** A page's rows (one more than `limit`: is there a next page?) and the unread count, from the stores. */
  const pageRows = (userId: string, beforeVersion: string | undefined, limit: number) =>
    Promise.all([notifications.listNotifications(userId, beforeVersion, limit + 1), unreadCount(userId)]);

  async function pageOf(rows: readonly StoredNotification[], limit: number, count: number): Promise<Page> {
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: (await entries(page)).map((e) => e.item),
      nextVersion: rows.length > limit && last ? last.version : null,
      unreadCount: count,
    };
  }

  async function list(userId: string, beforeVersion: string | undefined, limit: number): Promise<Page> {
    const [rows, count] = await pageRows(userId, beforeVersion, limit);
    return pageOf(rows, limit, count);
  }

  /** `{"items":…,"nextCursor":…` of a page (the unread count is added per request). */
  const itemsJson = (page: Page, cursorOf: (version: string) => string) =>
    `{"items":[${page.items.map(itemJson).join(',')}],"nextCursor":${page.nextVersion === null ? 'null' : jsonString(cursorOf(page.nextVersion))}`;
  const withCount = (head: string | Buffer, count: number): Buffer => {
    const tail = `,"unreadCount":${jsonInt(count)}}`;
    return typeof head === 'string'
      ? Buffer.from(head + tail)
      : Buffer.concat([head, Buffer.from(tail)], head.length + tail.length);
  };

  /**
   * The last reply made from each user's cached first page: while the page and the count are the same, the
   * same reply goes out again (kept, so its gzip is made once: `keepJson`). With Redis tracking the page is
   * the same Buffer while it is unchanged; without, a new one each read, compared by content.
   */
  const keptReplies = new BoundedMap<string, { head: Buffer; count: number; bytes: Buffer }>(KEPT_PAGES);
  const keptReply = (userId: string, head: Buffer, count: number): Buffer => {
    const known = keptReplies.get(userId);
    if (known?.count === count && (known.head === head || known.head.equals(head))) return known.bytes;
    const bytes = keepJson(withCount(head, count));
    keptReplies.set(userId, { head, count, bytes });
    return bytes;
  };

  /**
   * First pages being loaded from Postgres, per user: the requests that miss at once (a hot page that just
   * expired or was dropped) share one load. One that joins sees what the load under way reads (started at
   * most one Postgres read before it); a change that committed meanwhile dropped the page, so the next read
   * loads again.
   */
  const loading = new Map<string, Promise<{ head: string; count: number }>>();
  const loadFirstPage = (userId: string, limit: number, cursorOf: (version: string) => string) => {
    let load = loading.get(userId);
    if (load === undefined) {
      load = (async () => {
        try {
          const [rows, count] = await pageRows(userId, undefined, limit);
          // Recorded before the names are read (store/pages.ts): else a rename could slip in between.
          const actors = rows.slice(0, limit).flatMap((r) => r.actorIds);
          const recorded = await deps.pages?.showing(userId, actors).then(
            () => true,
            () => false,
          );
          const head = itemsJson(await pageOf(rows, limit, count), cursorOf);
          if (recorded) await deps.pages?.fill(userId, head).catch(() => {});
          return { head, count };
        } finally {
          loading.delete(userId);
        }
      })();
      loading.set(userId, load);
    }
    return load;
  };

  return {
    unreadCount,

    list,

    /**
     * A page as JSON bytes (`NotificationList`, written by hand in its order and shape). The first page at
     * the default size comes from Redis with its unread count in one round trip, as the bytes Redis holds
     * (a string would be decoded, measured for Content-Length and encoded again); Postgres only on a miss,
     * once for all the requests that miss together.
     */
    async listJson(
      userId: string,
      beforeVersion: string | undefined,
      limit: number,
      cursorOf: (version: string) => string,
    ): Promise<Buffer> {
      const cacheable = beforeVersion === undefined && limit === CACHED_PAGE_SIZE && deps.pages !== undefined;
      if (!cacheable || unread.isStale(userId)) {
        const page = await list(userId, beforeVersion, limit);
        return withCount(itemsJson(page, cursorOf), page.unreadCount);
      }
      const cached = await deps.pages?.get(userId).catch(() => undefined);
      if (cached?.page !== undefined) {
        return keptReply(userId, cached.page, cached.unread ?? (await unreadCount(userId)));
      }
      const { head, count } = await loadFirstPage(userId, limit, cursorOf);
      return withCount(head, count);
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

    /**
     * Items as the stream sends them, in one read per recipient shard and one of the actors' names for all;
     * the ones gone (an unliked group emptied) are left out.
     */
    async entriesOf(
      keys: readonly { recipientId: string; notificationId: string }[],
    ): Promise<(StreamEntry & { recipientId: string })[]> {
      if (keys.length === 0) return [];
      const rows = await notifications.notificationsByIds(keys);
      return (await entries(rows)).map((entry, i) => ({ ...entry, recipientId: rows[i]?.recipientId ?? '' }));
    },

    /** What a stream that last saw `afterVersion` missed, oldest first. */
    async missed(recipientId: string, afterVersion: string, limit: number): Promise<StreamEntry[]> {
      return entries(await notifications.notificationsSince(recipientId, afterVersion, limit));
    },
  };
}

export type Reader = ReturnType<typeof createReader>;

/** The page size clients ask for by default: the one cached. */
export const CACHED_PAGE_SIZE = 20;

const nullable = (s: string | null) => (s === null ? 'null' : jsonString(s));

/**
 * One item in the order and shape the schema serializer gives for `NotificationSchema`: the required fields
 * in schema order, then the optional ones present (fast-json-stringify writes required properties first).
 */
export function itemJson(item: NotificationItem): string {
  const actors = item.actors
    .map(
      (a) =>
        `{"id":${jsonString(a.id)},"username":${nullable(a.username)},"displayName":${nullable(a.displayName)}}`,
    )
    .join(',');
  return (
    `{"id":${jsonString(item.id)},"type":${jsonString(item.type)},"actors":[${actors}],` +
    `"actorCount":${jsonInt(item.actorCount)},"createdAt":${jsonString(item.createdAt)},"read":${item.read ? 'true' : 'false'}` +
    (item.approved === undefined ? '' : `,"approved":${item.approved ? 'true' : 'false'}`) +
    (item.postId === undefined ? '' : `,"postId":${jsonString(item.postId)}`) +
    (item.commentId === undefined ? '' : `,"commentId":${jsonString(item.commentId)}`) +
    '}'
  );
}
