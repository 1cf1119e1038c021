import { BoundedMap, type Hold } from '@instantpost/chassis';
import { isDependencyOutage } from '@instantpost/http/errors';
import type { MediaUrlSigner } from '@instantpost/media-urls';
import type { AccountName, CachedPost, PageLookup, PostSummary } from '../store/cache.ts';
import { olderThan, type TimelineEntry } from '../store/keys.ts';
import type { PageRead } from '../store/timelines.ts';
import type { PageVersions } from '../store/versions.ts';
import type { TimelineBuilder } from './timelines.ts';
import type { FeedItem, FeedStores } from './types.ts';

/** How many liked posts of a viewer are cached (the newest; older ones cannot be in a capped feed). */
const LIKED_CACHE_SIZE = 5000;

/** Viewers whose last page is kept (~25 KB each with its bytes: ~25 MB at most). */
export const PAGE_MEMO_SIZE = 1024;

/** A viewer's last page, the script answer it was hydrated from and the versions of what that read. */
interface MemoizedPage {
  bound: string;
  limit: number;
  expires: number;
  answer: string;
  versions: PageVersions;
  /** When the page script last ran for it (it refreshes the timelines' inactivity TTL; a check does not). */
  readAt: number;
  page: FeedPage;
  /** While valid, `versions` are unchanged and checking asks nothing (Redis tracking); set by a check. */
  hold?: Hold | undefined;
}

export interface FeedPage {
  items: FeedItem[];
  nextCursor: string | null;
}

/** Reads home feeds: one Redis round trip for a page and its hydration, Postgres only on a miss. */
export class FeedReader {
  /**
   * Media with signed rendition URLs, built once per summary object (the store reuses parsed summaries) and
   * URL expiry: URLs are identical within a time bucket, so a post's media is signed once per bucket.
   */
  private readonly media = new WeakMap<PostSummary, { expires: number; media: FeedItem['media'] }>();

  /**
   * Each viewer's last page, reused (the very same object, so routes/page-json.ts reuses its bytes too)
   * for the same bound, limit and URL expiry while nothing it was built from was written since: no round
   * trip at all while Redis tracking keeps those versions in process, else one MGET of the versions the
   * page script read with it (store/versions.ts) instead of the script. A like, a
   * comment, a rename, a new or deleted post or the viewer's own like each move a version, and then the
   * script runs; an answer equal to the one the page was hydrated from still reuses the page. Only pages
   * hydrated entirely from Redis are kept — a page that needed Postgres is a pure function of the answer
   * only once the caches are filled. Bounded: the least recently read viewer goes first.
   */
  private readonly pages = new BoundedMap<string, MemoizedPage>(PAGE_MEMO_SIZE);

  private readonly stores: FeedStores;
  private readonly builder: TimelineBuilder;
  private readonly mediaUrls: MediaUrlSigner;
  /** A memoized page older than this runs the page script again, which keeps its timelines from expiring. */
  private readonly recheckAfterMs: number;

  constructor(
    stores: FeedStores,
    builder: TimelineBuilder,
    mediaUrls: MediaUrlSigner,
    options: { inactiveAfterSeconds: number },
  ) {
    this.stores = stores;
    this.builder = builder;
    this.mediaUrls = mediaUrls;
    this.recheckAfterMs = (options.inactiveAfterSeconds * 1000) / 4;
  }

  /**
   * Entries strictly older than `cursor` (the last post id of the previous page): new posts have larger
   * ids, so they never shift a page that is being walked — no item twice, none skipped.
   */
  async page(viewerId: string, cursor: string | undefined, limit: number): Promise<FeedPage> {
    try {
      return await this.pageFromRedis(viewerId, cursor, limit);
    } catch (err) {
      if (!isDependencyOutage(err)) throw err;
      // Redis is away: the same page, computed from the Postgres projections (slower, still correct).
      return this.pageFromProjections(viewerId, cursor, limit);
    }
  }

  private async pageFromProjections(
    viewerId: string,
    cursor: string | undefined,
    limit: number,
  ): Promise<FeedPage> {
    const before = cursor === undefined ? undefined : BigInt(cursor);
    const timeline = await this.builder.timelineFromProjections(viewerId);
    const entries = timeline.filter((e) => before === undefined || BigInt(e.postId) < before).slice(0, limit);
    const nothingCached: PageLookup = {
      posts: entries.map(() => undefined),
      accounts: new Map(entries.map((e) => [e.authorId, undefined])),
      liked: undefined,
    };
    const items = await this.hydrate(viewerId, entries, nothingCached, this.mediaUrls.expires());
    return pageOf(entries, items, limit);
  }

  private async pageFromRedis(
    viewerId: string,
    cursor: string | undefined,
    limit: number,
  ): Promise<FeedPage> {
    const bound = cursor === undefined ? '+' : olderThan(cursor);
    const expires = this.mediaUrls.expires();
    const known = this.pages.get(viewerId);
    // The answer the memoized page was hydrated from, if it is for this very page: an equal answer is not
    // even parsed.
    const knownAnswer =
      known !== undefined && known.bound === bound && known.limit === limit && known.expires === expires
        ? known.answer
        : undefined;
    if (knownAnswer !== undefined && known !== undefined && Date.now() - known.readAt < this.recheckAfterMs) {
      if (known.hold?.valid) return this.remember(viewerId, known);
      if (await this.stores.timelines.unchanged(known.versions)) {
        known.hold = this.stores.timelines.hold(known.versions);
        return this.remember(viewerId, known);
      }
    }
    let read: PageRead;
    for (let attempt = 0; ; attempt++) {
      read = await this.stores.timelines.readPage(viewerId, bound, limit, knownAnswer);
      const complete = !read.timelineMissing && !read.bigFolloweesMissing && read.missingAuthors.length === 0;
      if (complete || attempt === 2) break;
      if (read.timelineMissing) await this.builder.rebuildTimeline(viewerId);
      if (read.bigFolloweesMissing) await this.builder.rebuildBigFollowees(viewerId);
      for (const authorId of read.missingAuthors) await this.builder.rebuildAuthorPosts(authorId);
    }
    if (known !== undefined && read.unchanged) {
      return this.remember(viewerId, {
        ...known,
        versions: read.versions,
        readAt: Date.now(),
        hold: undefined,
      });
    }
    const page = pageOf(
      read.entries,
      await this.hydrate(viewerId, read.entries, read.cached, expires),
      limit,
    );
    if (fromRedisAlone(read)) {
      const memo = {
        bound,
        limit,
        expires,
        answer: read.answer,
        versions: read.versions,
        readAt: Date.now(),
        page,
      };
      this.remember(viewerId, memo);
    } else {
      this.pages.delete(viewerId);
    }
    return page;
  }

  /** Keeps `memo` as the viewer's most recently read page (the Map's first key is the one to drop). */
  private remember(viewerId: string, memo: MemoizedPage): FeedPage {
    this.pages.set(viewerId, memo);
    return memo.page;
  }

  /** Fills what the caches missed from Postgres (and caches it). */
  private async hydrate(
    viewerId: string,
    entries: TimelineEntry[],
    found: PageLookup,
    expires: number,
  ): Promise<FeedItem[]> {
    if (entries.length === 0) return [];
    const { cache, projections } = this.stores;
    const postIds = entries.map((e) => e.postId);

    const posts = new Map<string, CachedPost>();
    const missingPosts: TimelineEntry[] = [];
    found.posts.forEach((p, i) => {
      if (p) posts.set(p.summary.id, p);
      else missingPosts.push(entries[i] as TimelineEntry);
    });
    if (missingPosts.length > 0) {
      const loaded = await projections.posts(missingPosts);
      await bestEffort(cache.storePosts([...loaded.values()]));
      for (const [id, p] of loaded) posts.set(id, p);
    }

    const accounts = new Map<string, AccountName>();
    const missingAccounts: string[] = [];
    for (const [id, a] of found.accounts) {
      if (a) accounts.set(id, a);
      else missingAccounts.push(id);
    }
    if (missingAccounts.length > 0) {
      const loaded = await projections.accounts(missingAccounts);
      await bestEffort(cache.storeAccounts(loaded));
      for (const [id, a] of loaded) accounts.set(id, a);
    }

    let liked: Set<string>;
    if (found.liked) {
      liked = new Set(postIds.filter((_, i) => found.liked?.[i]));
    } else {
      const ids = await projections.likedPosts(viewerId, LIKED_CACHE_SIZE);
      await bestEffort(cache.storeLiked(viewerId, ids));
      liked = new Set(ids);
    }

    const items: FeedItem[] = [];
    for (const entry of entries) {
      const post = posts.get(entry.postId);
      if (!post) continue; // deleted (or not yet projected): never shown
      const account = accounts.get(entry.authorId);
      items.push(
        toItem(post, entry.authorId, account, liked.has(entry.postId), this.mediaOf(post.summary, expires)),
      );
    }
    return items;
  }

  private mediaOf(summary: PostSummary, expires: number): FeedItem['media'] {
    const known = this.media.get(summary);
    if (known?.expires === expires) return known.media;
    const media = toMedia(summary, this.mediaUrls, expires);
    this.media.set(summary, { expires, media });
    return media;
  }
}

/** Every post, author name and like of the page came from Redis (nothing from Postgres). */
function fromRedisAlone(read: PageRead): boolean {
  if (read.cached.liked === undefined) return false;
  for (const p of read.cached.posts) if (p === undefined) return false;
  for (const a of read.cached.accounts.values()) if (a === undefined) return false;
  return true;
}

/** A full page has a next one, after its last entry (a post some items of which may be deleted). */
function pageOf(entries: readonly TimelineEntry[], items: FeedItem[], limit: number): FeedPage {
  const last = entries.at(-1);
  return { items, nextCursor: entries.length === limit && last ? last.postId : null };
}

/** Filling a cache is an optimization: with Redis away the read goes on without it. */
async function bestEffort(fill: Promise<unknown>): Promise<void> {
  try {
    await fill;
  } catch (err) {
    if (!isDependencyOutage(err)) throw err;
  }
}

function toItem(
  post: CachedPost,
  authorId: string,
  account: AccountName | undefined,
  liked: boolean,
  media: FeedItem['media'],
): FeedItem {
  const s = post.summary;
  return {
    id: s.id,
    author: { id: authorId, username: account?.username ?? '', displayName: account?.displayName ?? '' },
    caption: s.caption,
    hashtags: s.hashtags,
    mentions: s.mentions,
    altText: s.altText,
    createdAt: s.createdAt,
    likeCount: post.likeCount,
    commentCount: post.commentCount,
    viewerHasLiked: liked,
    media,
  };
}

/**
 * The gateway serves the rendition stored at `media/<mediaId>/<name>.<ext>` at
 * `<MEDIA_BASE_URL>/<mediaId>/<name>.<ext>?e=…&s=…` (signed), the same URL metadata's post view gives.
 */
function toMedia(s: PostSummary, mediaUrls: MediaUrlSigner, expires: number): FeedItem['media'] {
  return {
    width: s.media.width,
    height: s.media.height,
    blurhash: s.media.blurhash,
    renditions: s.media.renditions.map((r) => ({
      name: r.name,
      width: r.width,
      height: r.height,
      format: r.format,
      url: mediaUrls.pathUrl(r.key.startsWith('media/') ? r.key.slice('media/'.length) : r.key, expires),
    })),
  };
}
