import { Type } from '@sinclair/typebox';
import { Id } from './common.ts';

/** The kinds of notification the API lists. */
export const NotificationType = Type.Union([
  Type.Literal('like'),
  Type.Literal('comment'),
  Type.Literal('follow'),
  Type.Literal('follow_request'),
  Type.Literal('mention'),
]);

/**
 * `notification.created` — a notification for `recipientId`. Grouped notifications (likes of one post)
 * list the most recent actors in `actorIds` and the total in `actorCount`.
 */
export const NotificationCreated = Type.Object(
  {
    notificationId: Id,
    recipientId: Id,
    type: NotificationType,
    actorIds: Type.Array(Id, { minItems: 1, maxItems: 100 }),
    actorCount: Type.Optional(Type.Integer({ minimum: 1 })),
    postId: Type.Optional(Id),
    commentId: Type.Optional(Id),
  },
  { title: 'notification.created data' },
);
