import { Type } from '@sinclair/typebox';
import { AltText, Caption, Hashtags, Id, Mentions, Timestamp } from './common.ts';
import { PostMedia } from './media.ts';

/**
 * `post.published` — metadata created a post from `media.processed`. Carries `mediaId` so `upload`
 * can mark the upload published, and everything a feed needs to render it without a lookup.
 */
export const PostPublished = Type.Object(
  {
    postId: Id,
    mediaId: Id,
    authorId: Id,
    createdAt: Timestamp,
    caption: Caption,
    hashtags: Hashtags,
    mentions: Mentions,
    altText: Type.Optional(AltText),
    media: PostMedia,
  },
  { title: 'post.published data' },
);

/** `post.deleted` — the author deleted a post; it leaves every feed. */
export const PostDeleted = Type.Object({ postId: Id, authorId: Id }, { title: 'post.deleted data' });
