import { Type } from '@sinclair/typebox';
import { Id } from './common.ts';

/** `follow.created` — `following` at once for a public account, `requested` for a private one. */
export const FollowCreated = Type.Object(
  {
    followerId: Id,
    followeeId: Id,
    state: Type.Union([Type.Literal('following'), Type.Literal('requested')]),
  },
  { title: 'follow.created data' },
);

/** `follow.approved` — a private account approved a pending request. */
export const FollowApproved = Type.Object(
  { followerId: Id, followeeId: Id },
  { title: 'follow.approved data' },
);

/** `follow.deleted` — an unfollow, a denied request or a withdrawn request. */
export const FollowDeleted = Type.Object(
  { followerId: Id, followeeId: Id },
  { title: 'follow.deleted data' },
);
