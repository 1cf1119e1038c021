import { type Static, Type } from '@sinclair/typebox';
import { Id, Nullable } from './schemas.ts';

/**
 * Objects of the public contract (API.md) that more than one service returns: a post is shown by
 * metadata (a post, a grid, a tag) and by feed (the home timeline) and must look the same in both. The
 * property order is the order of the JSON (feed writes its pages by hand in this order).
 */

/** A user as lists and posts show them. */
export const UserSummarySchema = Type.Object(
  { id: Id(), username: Type.String(), displayName: Type.String() },
  { description: 'a user as lists and posts show them' },
);

export type UserSummaryJson = Static<typeof UserSummarySchema>;

export const RenditionSchema = Type.Object({
  name: Type.String({ description: '1080, 640, 320 or thumb' }),
  width: Type.Integer(),
  height: Type.Integer(),
  format: Type.Unsafe<'jpeg' | 'webp'>({ type: 'string', enum: ['jpeg', 'webp'] }),
  url: Type.String({ description: 'signed for a limited time; fetch the post again for a fresh one' }),
});

export const MentionSchema = Type.Object({ userId: Id(), username: Type.String() });

export const PostSchema = Type.Object(
  {
    id: Id(),
    author: UserSummarySchema,
    caption: Type.String(),
    hashtags: Type.Array(Type.String()),
    mentions: Type.Array(MentionSchema),
    altText: Nullable(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
    likeCount: Type.Integer(),
    commentCount: Type.Integer(),
    viewerHasLiked: Type.Boolean(),
    media: Type.Object({
      width: Type.Integer(),
      height: Type.Integer(),
      blurhash: Type.String(),
      renditions: Type.Array(RenditionSchema),
    }),
  },
  { description: 'a post as API.md defines it' },
);

export type PostJson = Static<typeof PostSchema>;
