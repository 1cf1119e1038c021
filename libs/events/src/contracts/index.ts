import type { Static, TSchema } from '@sinclair/typebox';
import { AccountCreated, AccountUpdated } from './account.ts';
import { FollowApproved, FollowCreated, FollowDeleted } from './follow.ts';
import { CommentCreated, LikeCreated, LikeDeleted } from './interaction.ts';
import { MediaProcessed, MediaRejected, MediaUploaded } from './media.ts';
import { NotificationCreated } from './notification.ts';
import { PostDeleted, PostPublished } from './post.ts';
import { SessionRevoked } from './session.ts';

/**
 * Every event InstantPost publishes: subject (= CloudEvents `type`) → schema of its `data`.
 * The single source for validation, the generated JSON Schemas and the TypeScript types.
 * Version 1 of each; a breaking change gets a new subject, an additive one an optional field.
 */
export const EventContracts = {
  'account.created': AccountCreated,
  'account.updated': AccountUpdated,
  'session.revoked': SessionRevoked,
  'follow.created': FollowCreated,
  'follow.approved': FollowApproved,
  'follow.deleted': FollowDeleted,
  'media.uploaded': MediaUploaded,
  'media.processed': MediaProcessed,
  'media.rejected': MediaRejected,
  'post.published': PostPublished,
  'post.deleted': PostDeleted,
  'like.created': LikeCreated,
  'like.deleted': LikeDeleted,
  'comment.created': CommentCreated,
  'notification.created': NotificationCreated,
} as const satisfies Record<string, TSchema>;

/** A subject / CloudEvents `type`, e.g. `post.published`. */
export type EventSubject = keyof typeof EventContracts;

/** The `data` of an event, e.g. `EventData<'like.created'>` is `{ postId, postAuthorId, userId }`. */
export type EventData<S extends EventSubject> = Static<(typeof EventContracts)[S]>;

/** Every subject, in declaration order. */
export const EVENT_SUBJECTS = Object.keys(EventContracts) as EventSubject[];

/** Whether `value` names a known event. */
export function isEventSubject(value: string): value is EventSubject {
  return Object.hasOwn(EventContracts, value);
}

/** The schema version of every current contract (`schemas/<subject>.v1.json`). */
export const SCHEMA_VERSION = 1;

export { Id, Mention, Timestamp } from './common.ts';
export { BlurHash, PostMedia, Rendition } from './media.ts';
export { NotificationType } from './notification.ts';
