import type { TimelineEntry } from '../store/keys.ts';
import type { FeedSettings, FeedStores } from './types.ts';

/**
 * Rebuilds Redis structures from Postgres. Redis is never the only copy: every timeline, author list
 * and big-account set can be recomputed from the projections.
 */
export class TimelineBuilder {
  private readonly stores: FeedStores;
  private readonly settings: FeedSettings;

  constructor(stores: FeedStores, settings: FeedSettings) {
    this.stores = stores;
    this.settings = settings;
  }

  /**
   * A user's home timeline: their own and their followees' recent posts. The timeline is opened first
   * so that fan-outs running meanwhile land in it; whatever they add survives the fill.
   */
  async rebuildTimeline(userId: string, options: { replace?: boolean } = {}): Promise<number> {
    const { projections, timelines } = this.stores;
    if (options.replace) await timelines.dropTimeline(userId);
    await timelines.openTimeline(userId);
    const entries = await this.timelineFromProjections(userId);
    await timelines.fillTimeline(userId, entries);
    // An unfollow handled while Postgres was read may have removed its posts before the fill put them
    // back: look at the follows again and take out the authors that are gone.
    const still = new Set([userId, ...(await projections.followees(userId))]);
    const stale = entries.filter((e) => !still.has(e.authorId));
    if (stale.length > 0) await timelines.removeFromTimelines([userId], stale);
    return entries.length - stale.length;
  }

  /** A home timeline computed from Postgres alone (Redis unavailable): what `rebuildTimeline` would fill. */
  async timelineFromProjections(userId: string): Promise<TimelineEntry[]> {
    const { projections } = this.stores;
    const followees = await projections.followees(userId);
    const entries = await projections.recentPosts([userId, ...followees], this.settings.timelineCap);
    return newest(entries, this.settings.timelineCap);
  }

  /** Which of a user's followees are big accounts (their posts are merged at read time). */
  async rebuildBigFollowees(userId: string): Promise<void> {
    const { projections, timelines } = this.stores;
    if (!(await timelines.bigAccountsKnown())) {
      await timelines.replaceBigAccounts(await projections.bigAccounts(this.settings.bigAccountFollowers));
    }
    const followees = await projections.followees(userId);
    await timelines.replaceBigFollowees(userId, await timelines.whichAreBig(followees));
  }

  async rebuildAuthorPosts(authorId: string): Promise<void> {
    const { projections, timelines } = this.stores;
    await timelines.openAuthorPosts(authorId);
    await timelines.fillAuthorPosts(
      authorId,
      await projections.recentPosts([authorId], this.settings.timelineCap),
    );
  }

  /** Operator rebuild of every known user's timeline; returns how many were rebuilt. */
  async rebuildAll(onProgress?: (done: number) => void): Promise<number> {
    const { projections, timelines } = this.stores;
    const big = await projections.bigAccounts(this.settings.bigAccountFollowers);
    await timelines.replaceBigAccounts(big);
    // Only big accounts' post lists are read (the merge); the others are left to expire unread.
    for (const authorId of big) await this.rebuildAuthorPosts(authorId);
    let after = '0';
    let done = 0;
    for (;;) {
      const users = await projections.allUsers(after, 500);
      for (const userId of users) {
        await this.rebuildTimeline(userId, { replace: true });
        await this.rebuildBigFollowees(userId);
        done++;
      }
      onProgress?.(done);
      const last = users.at(-1);
      if (!last || users.length < 500) return done;
      after = last;
    }
  }
}

function newest(entries: TimelineEntry[], cap: number): TimelineEntry[] {
  return entries.sort((a, b) => (BigInt(b.postId) > BigInt(a.postId) ? 1 : -1)).slice(0, cap);
}
