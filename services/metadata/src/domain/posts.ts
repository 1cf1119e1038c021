import { NonRetryableError } from '@instantpost/bus';
import type { EventData } from '@instantpost/events';
import { shardOf } from '@instantpost/ids';
import type { MediaUrlSigner } from '@instantpost/media-urls';
import { CACHED, type CacheStore } from '../store/cache.ts';
import type { PostRow, PostStore, StoredMention } from '../store/posts.ts';
import { foldTag, parseCaption } from './caption.ts';
import { MetadataError, MetadataErrorCodes, postNotFound, userNotFound } from './errors.ts';
import { metadataEvent } from './events.ts';
import type { Page, Paged } from './input.ts';
import { encodeCursor } from './input.ts';
import type { People } from './people.ts';
import {
  type Account,
  type CachedPost,
  cachedPostOf,
  type PostView,
  postViewOf,
  type RenditionUrl,
  summaryOf,
} from './views.ts';

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

  /** Renders rows for a viewer: drops posts whose author is gone or invisible to the viewer. */
  const render = async (viewerId: string | undefined, rows: readonly CachedPost[]): Promise<PostView[]> => {
    const accounts = await people.accounts(rows.map((r) => r.author_id));
    const visible = new Map<string, Account>();
    for (const account of accounts.values()) {
      if (await people.canSee(viewerId, account)) visible.set(account.id, account);
    }
    const shown = rows.filter((r) => visible.has(r.author_id));
    const liked =
      viewerId === undefined
        ? new Set<string>()
        : await deps.posts.likedBy(
            viewerId,
            shown.map((r) => r.id),
          );
    const expires = deps.mediaUrls.expires();
    const urlOf: RenditionUrl = (mediaId, name, format) => deps.mediaUrls.url(mediaId, name, format, expires);
    return shown.map((r) =>
      postViewOf(r, summaryOf(visible.get(r.author_id) as Account), liked.has(r.id), urlOf),
    );
  };

  const pageOfRows = async (
    viewerId: string | undefined,
    rows: PostRow[],
    limit: number,
  ): Promise<Paged<PostView>> => {
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: await render(viewerId, page.map(cachedPostOf)),
      nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null,
    };
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
        await authors.set(media.mediaId, media.ownerId);
        await people.countsChanged(media.ownerId);
      }
      return created;
    },

    async view(viewerId: string | undefined, id: string): Promise<PostView> {
      const post = await livePost(id);
      const [view] = post ? await render(viewerId, [post]) : [];
      if (!view) throw postNotFound();
      return view;
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
      await authors.drop(id);
      await people.countsChanged(userId);
    },

    async grid(viewerId: string | undefined, authorId: string, page: Page): Promise<Paged<PostView>> {
      const author = await people.account(authorId);
      if (!author || !(await people.canSee(viewerId, author))) throw userNotFound();
      const rows = await deps.posts.gridOf(authorId, page.after?.toString(), page.limit + 1);
      return pageOfRows(viewerId, rows, page.limit);
    },

    async tagged(viewerId: string | undefined, rawTag: string, page: Page): Promise<Paged<PostView>> {
      const tag = foldTag(rawTag);
      const ids = await deps.posts.taggedPostIds(tag, page.after?.toString(), page.limit + 1);
      const found = await deps.posts.livePostsByIds(ids.slice(0, page.limit));
      const rows = ids.slice(0, page.limit).flatMap((id) => {
        const row = found.get(id);
        return row ? [cachedPostOf(row)] : [];
      });
      const last = ids.slice(0, page.limit).at(-1);
      return {
        items: await render(viewerId, rows),
        nextCursor: ids.length > page.limit && last ? encodeCursor(last) : null,
      };
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

    async dropCached(postId: string): Promise<void> {
      await postCache.invalidate(postId);
    },
  };
}

export type Posts = ReturnType<typeof posts>;
