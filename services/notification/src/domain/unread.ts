import type { Logger } from '@instantpost/telemetry';
import type { NotificationStore } from '../store/notifications.ts';
import type { PageCache } from '../store/pages.ts';
import type { UnreadCache } from '../store/unread.ts';

const REPAIR_EVERY_MS = 1000;

/**
 * Unread counts (and the cached first pages, which change with them): Redis first, Postgres as the truth.
 * A committed change drops what it changed, and a recount fills only if no change came in meanwhile
 * (store/unread.ts says why a count is never incremented in place). Redis being down never fails a read or a handler:
 * reads count in Postgres, and a count this replica could not drop is marked stale — not read
 * from Redis by this replica, and deleted there as soon as Redis answers again (checked every second).
 */
export function createUnreadCounts(deps: {
  notifications: Pick<NotificationStore, 'countUnread'>;
  cache: UnreadCache;
  /** The cached first pages: every change to a list that moves its count (or not) drops its page too. */
  pages?: Pick<PageCache, 'drop' | 'dropMany'>;
  logger: Logger;
}) {
  const { notifications, cache, logger } = deps;
  const dropPage = async (userId: string) => deps.pages?.drop(userId);
  const stale = new Set<string>();

  const markStale = (userId: string) => (err: unknown) => {
    if (stale.size === 0) logger.warn({ err }, 'unread cache unavailable; counts will be recounted');
    stale.add(userId);
  };

  const repair = setInterval(() => {
    void (async () => {
      for (const userId of stale) {
        try {
          await cache.drop([userId]);
          await dropPage(userId);
          stale.delete(userId);
        } catch {
          return; // still down: next time
        }
      }
    })();
  }, REPAIR_EVERY_MS);
  repair.unref();

  return {
    async count(userId: string): Promise<number> {
      const seen = stale.has(userId) ? undefined : await cache.get(userId).catch(() => undefined);
      if (seen?.count !== undefined) return seen.count;
      const count = await notifications.countUnread(userId);
      if (seen && !stale.has(userId)) await cache.fill(userId, count, seen).catch(() => {});
      return count;
    },
    /**
     * After a committed change to the user's list that moved the unread count by `delta` (0: the list
     * changed, the count did not): the page is dropped, and the count too unless it did not move.
     */
    async changed(userId: string, delta: number): Promise<void> {
      await this.changedMany(new Map([[userId, delta]]));
    },
    /** `changed` for every recipient of a batch: two pipelines. */
    async changedMany(changes: ReadonlyMap<string, number>): Promise<void> {
      if (changes.size === 0) return;
      const moved = [...changes].filter(([, delta]) => delta !== 0).map(([userId]) => userId);
      try {
        await Promise.all([cache.drop(moved), deps.pages?.dropMany(changes.keys())]);
      } catch (err) {
        for (const userId of changes.keys()) markStale(userId)(err);
      }
    },
    /** After marking read: the next read recounts. */
    async forget(userId: string): Promise<void> {
      await Promise.all([cache.drop([userId]), dropPage(userId)]).catch(markStale(userId));
    },
    /**
     * Recounts of the recipients of events that were handled before (an inbox key already claimed): the
     * run that committed them may have died before it adjusted the cached count, and a retry cannot tell,
     * so the count is dropped and the next read takes it from Postgres. Genuine duplicates are rare.
     */
    async forgetMany(userIds: ReadonlySet<string>): Promise<void> {
      await Promise.all([...userIds].map((userId) => this.forget(userId)));
    },
    /** Whether this replica must not trust what Redis holds for the user (a change it could not apply there). */
    isStale(userId: string): boolean {
      return stale.has(userId);
    },
    stop(): void {
      clearInterval(repair);
    },
  };
}

export type UnreadCounts = ReturnType<typeof createUnreadCounts>;
