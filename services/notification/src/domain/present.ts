import type { EventData } from '@instantpost/events';
import type { NotificationItem, NotificationType, StoredNotification, UserSummary } from './types.ts';

export function typeOf(n: StoredNotification): NotificationType {
  return n.kind === 'follow_approved' ? 'follow_request' : n.kind;
}

/** An item as clients see it, with its actors' names from `users`. */
export function toItem(n: StoredNotification, users: ReadonlyMap<string, UserSummary>): NotificationItem {
  const item: NotificationItem = {
    id: n.id,
    type: typeOf(n),
    actors: n.actorIds.map((id) => users.get(id) ?? { id, username: null, displayName: null }),
    actorCount: n.actorCount,
    createdAt: n.lastAt.toISOString(),
    read: n.readAt !== null,
  };
  if (n.kind === 'follow_approved') item.approved = true;
  if (n.postId !== null) item.postId = n.postId;
  if (n.commentId !== null) item.commentId = n.commentId;
  return item;
}

/**
 * The `notification.created` data announcing an item (again, for a grown like group: same id). An accepted
 * follow request adds `approved: true`, an extra field the contract's tolerant readers accept.
 */
export function createdData(n: StoredNotification): EventData<'notification.created'> & { approved?: true } {
  const data: EventData<'notification.created'> & { approved?: true } = {
    notificationId: n.id,
    recipientId: n.recipientId,
    type: typeOf(n),
    actorIds: [...n.actorIds],
    actorCount: n.actorCount,
  };
  if (n.kind === 'follow_approved') data.approved = true;
  if (n.postId !== null) data.postId = n.postId;
  if (n.commentId !== null) data.commentId = n.commentId;
  return data;
}
