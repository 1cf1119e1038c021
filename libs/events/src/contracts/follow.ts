import { Type } from '@sinclair/typebox';
import { Id } from './common.ts';

/**
 * The edge's version on the follower's shard (the owner of the edge): every change of one edge gets the
 * next number, so consumers order changes by it instead of by clocks. Optional: hand-written events may
 * leave it out, and order by time then (a versioned change always wins over an unversioned one).
 */
const EdgeVersion = Type.Optional(
  Type.Integer({ minimum: 1, description: 'version of the follow edge after this change' }),
);

/** `follow.created` — `following` at once for a public account, `requested` for a private one. */
export const FollowCreated = Type.Object(
  {
    followerId: Id,
    followeeId: Id,
    state: Type.Union([Type.Literal('following'), Type.Literal('requested')]),
    version: EdgeVersion,
  },
  { title: 'follow.created data' },
);

/** `follow.approved` — a private account approved a pending request. */
export const FollowApproved = Type.Object(
  { followerId: Id, followeeId: Id, version: EdgeVersion },
  { title: 'follow.approved data' },
);

/** `follow.deleted` — an unfollow, a denied request or a withdrawn request. */
export const FollowDeleted = Type.Object(
  { followerId: Id, followeeId: Id, version: EdgeVersion },
  { title: 'follow.deleted data' },
);
