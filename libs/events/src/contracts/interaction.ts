import { Type } from '@sinclair/typebox';
import { Id, Mentions, Text } from './common.ts';

/** `like.created` — `userId` liked `postId` (written by `postAuthorId`). */
export const LikeCreated = Type.Object(
  { postId: Id, postAuthorId: Id, userId: Id },
  { title: 'like.created data' },
);

/** `like.deleted` — the like was removed. */
export const LikeDeleted = Type.Object(
  { postId: Id, postAuthorId: Id, userId: Id },
  { title: 'like.deleted data' },
);

/** `comment.created` — `userId` commented on `postId`; `mentions` are resolved accounts. */
export const CommentCreated = Type.Object(
  {
    commentId: Id,
    postId: Id,
    postAuthorId: Id,
    userId: Id,
    text: Text(2200, 1, 'Comment text, 1-2200 characters'),
    mentions: Mentions,
  },
  { title: 'comment.created data' },
);
