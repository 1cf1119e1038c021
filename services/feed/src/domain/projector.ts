import type { EventData } from '@instantpost/events';
import type { TimelineEntry } from '../store/keys.ts';
import type { LikeChange } from '../store/like-batches.ts';
import type { EdgeVersion, EventVersion, FollowState } from '../store/projections.ts';
import type { FeedSettings, FeedStores } from './types.ts';

/** Called between batches of long work so the message's ack timer is reset. */
export type Heartbeat = () => void;

/**
 * Applies SOCIAL events: Postgres projections first (idempotent, last writer by event version wins), then
 * the Redis effects derived from the resulting state, not from the event, so a duplicate or a late
 * event re-applies the current truth instead of an old one (and repairs a Redis write lost after the
 * commit: counts are written as stored, never as deltas).
 */
export class FeedProjector {
  private readonly stores: FeedStores;
  private readonly settings: FeedSettings;

  constructor(stores: FeedStores, settings: FeedSettings) {
    this.stores = stores;
    this.settings = settings;
  }

  private isBig(followers: number): boolean {
    return followers > this.settings.bigAccountFollowers;
  }

  async accountCreated(data: EventData<'account.created'>, v: EventVersion): Promise<void> {
    await this.stores.projections.putAccount(
      data.userId,
      { username: data.username, displayName: data.displayName },
      v,
    );
    await this.stores.cache.forgetAccount(data.userId);
  }

  async accountUpdated(data: EventData<'account.updated'>, v: EventVersion): Promise<void> {
    if (data.displayName === undefined) return;
    await this.stores.projections.putAccount(data.userId, { displayName: data.displayName }, v);
    await this.stores.cache.forgetAccount(data.userId);
  }

  /** follow.created / follow.approved / follow.deleted, as the state the edge moves to. */
  async followChanged(
    followerId: string,
    followeeId: string,
    state: FollowState,
    v: EdgeVersion,
    heartbeat: Heartbeat,
  ): Promise<void> {
    const { projections } = this.stores;
    const edge = await projections.writeFollower(followeeId, followerId, state, v);
    // The follower's row as this write left it (unchanged when a newer event had written it already).
    let current = (await projections.writeFollowing(followerId, followeeId, state, v)).after;
    const big = this.isBig(edge.followers);
    // Apply the stored state, then look again: a concurrent handler of the same edge that committed in
    // between has either been seen here (and its state is applied now) or applies its own after ours.
    for (let attempt = 0; attempt < 3; attempt++) {
      await this.applyFollow([followerId], followeeId, current === 'following', big);
      const again = await projections.followState(followerId, followeeId);
      if (again === current) break;
      current = again;
    }

    const delta = Number(edge.after === 'following') - Number(edge.before === 'following');
    const wasBig = this.isBig(edge.followers - delta);
    if (edge.applied && wasBig !== big) await this.bigChanged(followeeId, big, heartbeat);
  }

  /**
   * What a follow means for timelines: following a regular account backfills its recent posts, following
   * a big one adds it to the read-time merge; not following removes both.
   */
  private async applyFollow(followerIds: string[], followeeId: string, following: boolean, big: boolean) {
    const { projections, timelines } = this.stores;
    if (following && big) {
      await timelines.setBigFollowee(followerIds, followeeId, true);
      return;
    }
    await timelines.setBigFollowee(followerIds, followeeId, false);
    const recent = await projections.recentPosts([followeeId], this.settings.timelineCap);
    if (following) await timelines.addToTimelines(followerIds, recent);
    else await timelines.removeFromTimelines(followerIds, recent);
  }

  /** An account crossed FEED_BIG_ACCOUNT_FOLLOWERS: switch every follower between fan-out and merge. */
  private async bigChanged(userId: string, big: boolean, heartbeat: Heartbeat): Promise<void> {
    await this.stores.timelines.markBig(userId, big);
    await this.eachFollowerBatch(userId, heartbeat, (ids) => this.applyFollow(ids, userId, true, big));
  }

  async postPublished(data: EventData<'post.published'>, heartbeat: Heartbeat): Promise<number> {
    const { projections, timelines } = this.stores;
    const visible = await projections.publishPost({
      id: data.postId,
      authorId: data.authorId,
      caption: data.caption,
      hashtags: data.hashtags,
      mentions: data.mentions,
      altText: data.altText ?? null,
      createdAt: data.createdAt,
      media: data.media,
    });
    if (!visible) return 0;
    const entry: TimelineEntry = { postId: data.postId, authorId: data.authorId };
    await timelines.addToTimelines([data.authorId], [entry]);
    await timelines.addToAuthorPosts(data.authorId, [entry]);
    if (this.isBig(await projections.followerCount(data.authorId))) return 0;
    return this.fanOut(data.authorId, entry, heartbeat);
  }

  /**
   * Writes `entry` into every approved follower's timeline, page by page, as a pipeline: while page k is
   * written to Redis, page k+1 is read from Postgres and page k-1 is checked again. That check closes the
   * race with an unfollow committed after page k-1 was read: its removal of the author's posts may have run
   * before our write, so the post is taken out again (either the check sees the unfollow, or the unfollow's
   * removal runs after our write).
   */
  private async fanOut(authorId: string, entry: TimelineEntry, heartbeat: Heartbeat): Promise<number> {
    const { projections, timelines } = this.stores;
    const batch = this.settings.fanoutBatch;
    let written = 0;
    let previous: string[] = [];
    let page = await projections.approvedFollowers(authorId, '0', batch);
    while (page.length > 0 || previous.length > 0) {
      const last = page.at(-1);
      const [count, next, gone] = await Promise.all([
        timelines.addToTimelines(page, [entry]),
        last && page.length === batch ? projections.approvedFollowers(authorId, last, batch) : [],
        previous.length > 0 ? projections.noLongerFollowing(authorId, previous) : [],
      ]);
      if (gone.length > 0) await timelines.removeFromTimelines(gone, [entry]);
      written += count;
      heartbeat();
      previous = page;
      page = next;
    }
    return written;
  }

  async postDeleted(data: EventData<'post.deleted'>, heartbeat: Heartbeat): Promise<void> {
    const { projections, timelines, cache } = this.stores;
    await projections.deletePost(data.postId, data.authorId);
    const entry: TimelineEntry = { postId: data.postId, authorId: data.authorId };
    await timelines.removeFromTimelines([data.authorId], [entry]);
    await timelines.removeFromAuthorPosts(data.authorId, [entry]);
    await this.eachFollowerBatch(data.authorId, heartbeat, (ids) =>
      timelines.removeFromTimelines(ids, [entry]),
    );
    await cache.forgetPost(data.postId);
  }

  async likeChanged(data: EventData<'like.created'>, liked: boolean, v: EventVersion): Promise<void> {
    const { projections, cache } = this.stores;
    const counts = await projections.writePostLike(
      { postId: data.postId, authorId: data.postAuthorId },
      data.userId,
      liked,
      v,
    );
    await cache.storeCounts(new Map([[data.postId, counts]]));
    const current = await projections.writeViewerLike(data.userId, data.postId, liked, v);
    await cache.setLiked(data.userId, data.postId, current);
  }

  /**
   * Many likes and unlikes at once, with the effect of `likeChanged` on each: the projections in one
   * transaction per shard, then the counts of each post cached once and each liker's flag set to the
   * stored state.
   */
  async likesChanged(changes: readonly LikeChange[]): Promise<void> {
    if (changes.length === 0) return;
    const { likes, cache } = this.stores;
    await cache.storeCounts(await likes.writePostLikes(changes));
    const current = await likes.writeViewerLikes(changes);
    await cache.setLikedMany(
      [...current].map(([key, liked]) => {
        const [viewerId = '', postId = ''] = key.split(':');
        return { viewerId, postId, liked };
      }),
    );
  }

  /**
   * Counts each comment once, one statement per author shard; the cache gets the stored counts even for a
   * duplicate (see storeCounts).
   */
  async commentsCreated(comments: readonly EventData<'comment.created'>[]): Promise<void> {
    if (comments.length === 0) return;
    const counts = await this.stores.likes.addComments(
      comments.map((c) => ({ commentId: c.commentId, postId: c.postId, authorId: c.postAuthorId })),
    );
    await this.stores.cache.storeCounts(counts);
  }

  /** Approved followers in keyset pages of FEED_FANOUT_BATCH, a heartbeat after each. */
  private async eachFollowerBatch(
    userId: string,
    heartbeat: Heartbeat,
    work: (ids: string[]) => Promise<unknown>,
  ): Promise<void> {
    let after = '0';
    for (;;) {
      const ids = await this.stores.projections.approvedFollowers(userId, after, this.settings.fanoutBatch);
      if (ids.length > 0) await work(ids);
      heartbeat();
      const last = ids.at(-1);
      if (!last || ids.length < this.settings.fanoutBatch) return;
      after = last;
    }
  }
}
