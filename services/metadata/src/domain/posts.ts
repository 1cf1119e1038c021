import { NonRetryableError } from '@instantpost/bus';
import { BoundedMap, type Hold } from '@instantpost/chassis';
import type { EventData } from '@instantpost/events';
import { keepJson, type PostFragments, pageJson, postFragments, postJson } from '@instantpost/http';
import { shardOf } from '@instantpost/ids';
import type { MediaUrlSigner } from '@instantpost/media-urls';
import {
  CACHED,
  type CacheStore,
  COMPLETE_FIELD,
  FLAGS,
  type FlagRead,
  flagValue,
  isDefaulted,
} from '../store/cache.ts';
import type { PostStore, StoredMention } from '../store/posts.ts';
import { foldTag, parseCaption } from './caption.ts';
import { MetadataError, MetadataErrorCodes, postNotFound, userNotFound } from './errors.ts';
import { metadataEvent } from './events.ts';
import type { Page } from './input.ts';
import { encodeCursor } from './input.ts';
import type { People } from './people.ts';
import {
  type Account,
  type CachedPost,
  cachedPostOf,
  postViewOf,
  type RenditionUrl,
  summaryOf,
} from './views.ts';

/** How many of an author's newest post ids are cached for the grid (a page of up to 100, plus one). */
const GRID_IDS = 101;
/** Likes of a viewer cached as a complete set at most; a viewer with more is asked of Postgres post by post. */
const LIKED_SET_MAX = 5000;

/** Whether flag `i` of a read is known without Postgres or the clock: a value, or absent from a complete set. */
const knownFlag = (read: FlagRead, i: number) => read.values[i] !== undefined || isDefaulted(read, i);
/** Post → author pairs kept in process (~150 bytes each). */
const KNOWN_AUTHORS = 100_000;

/** Posts: created from processed media, read with the visibility rule, deleted by their author, tags. */
export function posts(deps: {
  posts: PostStore;
  people: People;
  cache: CacheStore;
  /** Signs rendition URLs: only viewers who may see a post get URLs of its photos. */
  mediaUrls: MediaUrlSigner;
}) {
  const { people } = deps;
  const postCache = deps.cache.json<CachedPost>(CACHED.post);
  const authors = deps.cache.postAuthors;
  const likedCache = deps.cache.flags(FLAGS.liked);
  const gridCache = deps.cache.json<string[]>(CACHED.grid);
  const accountCache = deps.cache.json<Account>(CACHED.account);
  const written = new WeakMap<CachedPost, { author: Account; expires: number; fragments: PostFragments }>();

  /** Resolves @names to accounts; unknown names are ignored. */
  const resolveMentions = async (names: readonly string[]): Promise<StoredMention[]> => {
    const out: StoredMention[] = [];
    for (const name of names) {
      const account = await people.byUsername(name);
      if (account) out.push({ userId: account.id, username: account.username });
    }
    return out;
  };

  /** A live post (cached), or undefined. */
  const livePost = async (id: string): Promise<CachedPost | undefined> => {
    const hit = await postCache.get(id);
    if (hit) return hit;
    const row = await deps.posts.postById(id);
    if (!row || row.deleted_at !== null) return undefined;
    const cached = cachedPostOf(row);
    await postCache.fill(id, cached);
    return cached;
  };

  /**
   * The last first-page bytes of each (viewer, author, page size), reused while the grid read answers the
   * very same raw values (held copies are the same strings, so comparing is cheap) for the same URL bucket.
   * A viewer's page also keeps a hold on those values while Redis tracking keeps them in process: while it
   * is valid, a repeat read is the page's bytes with no read at all.
   */
  const gridPages = new BoundedMap<
    string,
    {
      read: readonly (string | null)[];
      expires: number;
      bytes: Buffer;
      pageIds: readonly string[];
      hold: Hold | undefined;
    }
  >(GRID_PAGES_KEPT);

  /**
   * Which of `read.fields` (post ids) the viewer has liked: the read's flags; for what they miss, once per
   * viewer (per cached hash) every like of the viewer, cached as a complete set — after that an absent flag
   * means "not liked" with no Postgres at all. A field changed lately (a tombstone) and viewers with more
   * than LIKED_SET_MAX likes are asked of Postgres post by post (then cached).
   */
  const likedIn = async (viewerId: string, read: FlagRead): Promise<Set<string>> => {
    const ids = read.fields;
    const out = new Set<string>();
    const missing: string[] = [];
    read.values.forEach((v, i) => {
      if (v === '1') out.add(ids[i] as string);
      else if (v === undefined && !isDefaulted(read, i)) missing.push(ids[i] as string);
    });
    if (missing.length === 0) return out;
    const all = await likedCache.wholeSet(viewerId, read, async () => {
      const liked = await deps.posts.likesOf(viewerId, LIKED_SET_MAX);
      return liked && new Map([...liked].map((id) => [id, '1']));
    });
    if (all) {
      for (const id of missing) if (all.has(id)) out.add(id);
      return out;
    }
    const fromDb = await deps.posts.likedBy(viewerId, missing);
    const values = new Map<number, string>();
    read.values.forEach((v, i) => {
      if (v === undefined) values.set(i, fromDb.has(ids[i] as string) ? '1' : '0');
    });
    for (const id of fromDb) out.add(id);
    await likedCache.fill(viewerId, read, values);
    return out;
  };

  /** Which of `ids` the viewer has liked: the flag cache, Postgres for what it misses (then cached). */
  const likedOf = async (viewerId: string, ids: readonly string[]): Promise<Set<string>> =>
    likedIn(viewerId, await likedCache.get(viewerId, ids));

  /** Live posts by id in the given order (cached; Postgres for the misses, then cached). */
  const livePosts = async (ids: readonly string[]): Promise<CachedPost[]> => {
    const hits = await postCache.getMany(ids);
    const missing = ids.filter((_, i) => hits[i] === undefined);
    const loaded = new Map<string, CachedPost>();
    if (missing.length > 0) {
      for (const [id, row] of await deps.posts.livePostsByIds(missing)) {
        const cached = cachedPostOf(row);
        loaded.set(id, cached);
        await postCache.fill(id, cached);
      }
    }
    return ids.flatMap((id, i) => {
      const post = hits[i] ?? loaded.get(id);
      return post ? [post] : [];
    });
  };

  /** The newest ids of an author's grid (cached: a publish or a delete drops them), one more than a page. */
  const gridIds = async (authorId: string): Promise<string[]> => {
    const hit = await gridCache.get(authorId);
    if (hit) return hit;
    const ids = (await deps.posts.gridOf(authorId, undefined, GRID_IDS)).map((r) => r.id);
    await gridCache.fill(authorId, ids);
    return ids;
  };

  /**
   * A visible post as JSON bytes (post-json.ts). All but the viewer's like is written once per post
   * object (the cache hands out one object per cached text), author object and URL expiry bucket.
   */
  const rowJson = (r: CachedPost, author: Account, liked: boolean, expires: number): Buffer => {
    let known = written.get(r);
    if (known?.author !== author || known.expires !== expires) {
      const urlOf: RenditionUrl = (mediaId, name, format) =>
        deps.mediaUrls.url(mediaId, name, format, expires);
      known = { author, expires, fragments: postFragments(postViewOf(r, summaryOf(author), false, urlOf)) };
      written.set(r, known);
    }
    return postJson(known.fragments, liked);
  };

  /** Rows for a viewer as JSON, invisible ones dropped. */
  const renderJson = async (viewerId: string | undefined, rows: readonly CachedPost[]): Promise<Buffer[]> => {
    const accounts = await people.accounts(rows.map((r) => r.author_id));
    const visible = new Map<string, Account>();
    for (const account of accounts.values()) {
      if (await people.canSee(viewerId, account)) visible.set(account.id, account);
    }
    const shown = rows.filter((r) => visible.has(r.author_id));
    const liked =
      viewerId === undefined
        ? new Set<string>()
        : await likedOf(
            viewerId,
            shown.map((r) => r.id),
          );
    const expires = deps.mediaUrls.expires();
    return shown.map((r) => rowJson(r, visible.get(r.author_id) as Account, liked.has(r.id), expires));
  };

  /**
   * The bytes of each (viewer, post) read, with a hold on the values they were made from while Redis
   * tracking keeps them in process: while it is valid, a repeat read is those bytes with no read at all.
   */
  const postViews = new BoundedMap<string, { expires: number; bytes: Buffer; hold: Hold }>(POST_VIEWS_KEPT);

  // A post's author never changes: known authors let a warm read ask Redis for everything at once.
  const authorOfPost = new BoundedMap<string, string>(KNOWN_AUTHORS);

  /**
   * A warm post read in ONE Redis round trip (post, author, the viewer's liked and follow flags). A flag
   * this viewer never asked about (a post or an author new to them) is one Postgres read, then cached: no
   * reason to read post and author again the long way. Undefined when the post or its author is not cached
   * (or Redis fails): the caller reads the long way, which fills them. Throws 404 exactly where the long
   * way would (a private author the viewer does not follow).
   */
  const warmView = async (viewerId: string | undefined, id: string, authorId: string) => {
    const expires = deps.mediaUrls.expires();
    const memoKey = `${viewerId ?? ''}:${id}`;
    const known = postViews.get(memoKey);
    if (known?.expires === expires && known.hold.valid) return known.bytes;
    const at = Date.now();
    const json = [
      [CACHED.post, id],
      [CACHED.account, authorId],
    ] as const;
    const flags =
      viewerId === undefined
        ? []
        : ([
            [FLAGS.liked, viewerId, id],
            [FLAGS.follows, viewerId, authorId],
            [FLAGS.liked, viewerId, COMPLETE_FIELD],
          ] as const);
    const read = await deps.cache.readAll(json, flags);
    if (!read) return undefined;
    const [postText = null, accountText = null, likedRaw = null, followsRaw = null, completeRaw = null] =
      read;
    const post = postCache.parsed(id, postText);
    const author = accountCache.parsed(authorId, accountText);
    if (!post || !author || post.author_id !== authorId) return undefined;
    if (author.isPrivate && viewerId !== author.id) {
      if (viewerId === undefined) throw postNotFound();
      if ((await people.followStateFrom(viewerId, authorId, followsRaw, at)) !== 'following')
        throw postNotFound();
    }
    const likedRead = likedCache.readOf([id], [likedRaw], at, completeRaw);
    const liked = viewerId !== undefined && (await likedIn(viewerId, likedRead)).has(id);
    const bytes = rowJson(post, author, liked, expires);
    // Kept (as a grid page is) only when no flag needed Postgres or the clock.
    if (viewerId !== undefined && knownFlag(likedRead, 0) && (!author.isPrivate || flagValue(followsRaw))) {
      const hold = deps.cache.holdRead(json, flags, read);
      if (hold) postViews.set(memoKey, { expires, bytes: keepJson(bytes), hold });
      else postViews.delete(memoKey);
    }
    return bytes;
  };

  /**
   * The first page of a grid in ONE Redis round trip (author, cached grid ids, the viewer's follow flag,
   * the page's posts and the viewer's liked flags: `cache.gridRead`), when all of it is cached; undefined
   * otherwise (the caller reads the long way, which fills the caches). Throws 404 exactly where the long way
   * would.
   */
  const warmGrid = async (viewerId: string | undefined, authorId: string, limit: number) => {
    const expires = deps.mediaUrls.expires();
    const memoKey = `${viewerId ?? ''}:${authorId}:${limit}`;
    const known = gridPages.get(memoKey);
    if (known?.expires === expires && known.hold?.valid) return known.bytes;
    const at = Date.now();
    const read = await deps.cache.gridRead(authorId, viewerId, limit);
    if (!read) return undefined;
    if (known?.expires === expires && sameValues(known.read, read)) {
      // The same values again (a write that changed nothing on the page): hold them anew.
      if (viewerId !== undefined && !known.hold?.valid)
        known.hold = deps.cache.holdGrid(authorId, viewerId, known.pageIds, read);
      return known.bytes;
    }
    const author = accountCache.parsed(authorId, read[0] ?? null);
    const ids = gridCache.parsed(authorId, read[1] ?? null);
    if (!author || !ids) return undefined;
    if (author.isPrivate && viewerId !== authorId) {
      if (viewerId === undefined) throw userNotFound();
      if ((await people.followStateFrom(viewerId, authorId, read[2] ?? null, at)) !== 'following')
        throw userNotFound();
    }
    const pageIds = ids.slice(0, limit);
    const posts: CachedPost[] = [];
    for (const [i, id] of pageIds.entries()) {
      // A post not cached (or deleted: a tombstone) goes the long way, which drops deleted posts.
      const post = postCache.parsed(id, read[3 + i] ?? null);
      if (!post || post.author_id !== authorId) return undefined;
      posts.push(post);
    }
    const likedRead = likedCache.readOf(
      pageIds,
      pageIds.map((_, i) => read[3 + pageIds.length + i] ?? null),
      at,
      read[3 + 2 * pageIds.length] ?? null,
    );
    const liked = viewerId === undefined ? new Set<string>() : await likedIn(viewerId, likedRead);
    const items = posts.map((post) => rowJson(post, author, liked.has(post.id), expires));
    const last = pageIds.at(-1);
    const bytes = pageJson(items, ids.length > limit && last ? encodeCursor(last) : null);
    // Kept only when no flag needed Postgres or the clock (a missing flag of an incomplete set, or a
    // tombstone): then the page is a function of the raw values and the URL bucket alone.
    if (
      (viewerId === undefined || pageIds.every((_, i) => knownFlag(likedRead, i))) &&
      (!author.isPrivate || flagValue(read[2] ?? null))
    ) {
      const hold =
        viewerId === undefined ? undefined : deps.cache.holdGrid(authorId, viewerId, pageIds, read);
      gridPages.set(memoKey, { read, expires, bytes: keepJson(bytes), pageIds, hold });
    }
    return bytes;
  };

  return {
    livePost,
    resolveMentions,

    /**
     * `media.processed` → a post with the media id as its id, on the author's shard, with its
     * `post.published` event. Idempotent: a redelivered event finds the post and changes nothing.
     */
    async publishFromMedia(media: EventData<'media.processed'>): Promise<boolean> {
      if (shardOf(media.mediaId) !== shardOf(media.ownerId)) {
        throw new NonRetryableError(`media ${media.mediaId} was not minted on its owner's shard`);
      }
      const author = await people.account(media.ownerId);
      if (!author) throw new NonRetryableError(`media owner ${media.ownerId} has no account`);
      const caption = media.caption ?? '';
      const refs = parseCaption(caption);
      const mentions = await resolveMentions(refs.mentionNames);
      const created = await deps.posts.insertPost(
        {
          id: media.mediaId,
          authorId: media.ownerId,
          caption,
          hashtags: refs.hashtags,
          mentions,
          altText: media.altText,
          width: media.width,
          height: media.height,
          blurhash: media.blurhash,
          renditions: media.renditions,
        },
        (row) =>
          metadataEvent(
            'post.published',
            {
              postId: row.id,
              mediaId: media.mediaId,
              authorId: row.author_id,
              createdAt: row.created_at.toISOString(),
              caption: row.caption,
              hashtags: row.hashtags,
              mentions: row.mentions,
              ...(row.alt_text === null ? {} : { altText: row.alt_text }),
              media: {
                width: row.width,
                height: row.height,
                blurhash: row.blurhash,
                renditions: row.renditions,
              },
            },
            row.id,
          ),
      );
      if (created) {
        await gridCache.invalidate(media.ownerId);
        await authors.set(media.mediaId, media.ownerId);
        await people.countsChanged(media.ownerId);
      }
      return created;
    },

    /** A post as JSON (PostSchema), or 404. */
    async view(viewerId: string | undefined, id: string): Promise<Buffer> {
      const authorId = authorOfPost.get(id);
      if (authorId !== undefined) {
        const warm = await warmView(viewerId, id, authorId);
        if (warm !== undefined) return warm;
      }
      const post = await livePost(id);
      if (post) authorOfPost.set(id, post.author_id);
      const [json] = post ? await renderJson(viewerId, [post]) : [];
      if (json === undefined) throw postNotFound();
      return json;
    },

    /** Author only (403 for anyone else who can see it, 404 for who cannot). */
    async delete(userId: string, id: string): Promise<void> {
      const post = await livePost(id);
      if (!post) throw postNotFound();
      if (post.author_id !== userId) {
        const author = await people.account(post.author_id);
        if (!author || !(await people.canSee(userId, author))) throw postNotFound();
        throw new MetadataError(
          'forbidden',
          MetadataErrorCodes.NotAuthor,
          'only the author can delete a post',
        );
      }
      await deps.posts.deletePost(id, metadataEvent('post.deleted', { postId: id, authorId: userId }, id));
      await postCache.invalidate(id);
      await gridCache.invalidate(userId);
      await authors.drop(id);
      await people.countsChanged(userId);
    },

    /** A page of the author's grid as JSON (Page(PostSchema)); the first pages without Postgres. */
    async grid(viewerId: string | undefined, authorId: string, page: Page): Promise<Buffer> {
      if (page.after === undefined && page.limit < GRID_IDS) {
        const warm = await warmGrid(viewerId, authorId, page.limit);
        if (warm !== undefined) return warm;
      }
      const author = await people.account(authorId);
      if (!author || !(await people.canSee(viewerId, author))) throw userNotFound();
      const ids =
        page.after === undefined && page.limit < GRID_IDS
          ? (await gridIds(authorId)).slice(0, page.limit + 1)
          : (await deps.posts.gridOf(authorId, page.after?.toString(), page.limit + 1)).map((r) => r.id);
      const pageIds = ids.slice(0, page.limit);
      const last = pageIds.at(-1);
      const items = await renderJson(viewerId, await livePosts(pageIds));
      return pageJson(items, ids.length > page.limit && last ? encodeCursor(last) : null);
    },

    /** A page of a tag's posts as JSON (Page(PostSchema)). */
    async tagged(viewerId: string | undefined, rawTag: string, page: Page): Promise<Buffer> {
      const tag = foldTag(rawTag);
      const ids = await deps.posts.taggedPostIds(tag, page.after?.toString(), page.limit + 1);
      const last = ids.slice(0, page.limit).at(-1);
      const items = await renderJson(viewerId, await livePosts(ids.slice(0, page.limit)));
      return pageJson(items, ids.length > page.limit && last ? encodeCursor(last) : null);
    },

    /** Metadata's own tag consumer: index a published post under its tags (if it still exists). */
    async indexTags(postId: string): Promise<void> {
      const row = await deps.posts.postById(postId);
      if (!row || row.deleted_at !== null) return;
      await deps.posts.indexTags(row.id, row.author_id, row.hashtags);
    },

    async unindexTags(postId: string): Promise<void> {
      const row = await deps.posts.postById(postId);
      if (!row) return;
      await deps.posts.unindexTags(row.id, row.hashtags);
    },

    /** The author of a post through the hash-bucketed map (filled from Postgres on a miss). */
    async authorOf(postId: string): Promise<string | undefined> {
      const hit = await authors.get(postId);
      if (hit) return hit;
      const post = await livePost(postId);
      if (!post) return undefined;
      await authors.set(postId, post.author_id);
      return post.author_id;
    },

    /**
     * Call right after likes or unlikes committed (viewer → posts, one Redis round trip): the likers' next
     * reads show them (their events do it again).
     */
    async likesChanged(changes: ReadonlyMap<string, Iterable<string>>): Promise<void> {
      await likedCache.changedMany(changes);
    },

    async dropCached(postId: string): Promise<void> {
      await postCache.invalidate(postId);
    },
  };
}

export type Posts = ReturnType<typeof posts>;

/** (viewer, post) replies kept per process (~1 KB each). */
const POST_VIEWS_KEPT = 10_000;

/** Grid first pages kept per process (~10-15 KB each). */
const GRID_PAGES_KEPT = 2048;

function sameValues(a: readonly (string | null)[], b: readonly (string | null)[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
