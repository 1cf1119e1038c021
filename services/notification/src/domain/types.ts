import type { EventData } from '@instantpost/events';

/**
 * What an item is about. `follow_approved` ("bob accepted your follow request") is stored as its own
 * kind but shown with the API's `follow_request` type and `approved: true`, because the API's and
 * `notification.created`'s type lists are fixed.
 */
export type NotificationKind =
  | 'like'
  | 'comment'
  | 'follow'
  | 'follow_request'
  | 'follow_approved'
  | 'mention';

/** The type a client sees (API.md, `notification.created`). */
export type NotificationType = EventData<'notification.created'>['type'];

/** One recipient to notify of one action. */
export interface Intent {
  readonly recipientId: string;
  readonly kind: NotificationKind;
  readonly actorId: string;
  readonly postId?: string | undefined;
  readonly commentId?: string | undefined;
  /** When the action happened (the event's time): anchors the like grouping window. */
  readonly at: Date;
}

/** An item as stored, with its most recent actors. */
export interface StoredNotification {
  readonly id: string;
  readonly recipientId: string;
  readonly kind: NotificationKind;
  readonly postId: string | null;
  readonly commentId: string | null;
  readonly actorCount: number;
  /** Bumped whenever the item is announced again (a like group grows); the SSE event id. */
  readonly version: string;
  readonly lastAt: Date;
  readonly readAt: Date | null;
  /** The latest actors first, at most LATEST_ACTORS. */
  readonly actorIds: readonly string[];
}

/** An actor as clients see it; names are null until the account's event has arrived. */
export interface UserSummary {
  readonly id: string;
  readonly username: string | null;
  readonly displayName: string | null;
}

/** An item of `GET /v1/notifications` and of the stream. */
export interface NotificationItem {
  id: string;
  type: NotificationType;
  /** Only on `follow_request` items that say the actor accepted the recipient's request. */
  approved?: true;
  actors: UserSummary[];
  actorCount: number;
  postId?: string;
  commentId?: string;
  /** The latest activity (a like group's newest like). */
  createdAt: string;
  read: boolean;
}

/** How many actors an item lists ("alice, bob and 3 others"). */
export const LATEST_ACTORS = 3;
