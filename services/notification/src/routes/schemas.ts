import { Id, Nullable, PageQuery } from '@instantpost/http';
import { type Static, Type } from '@sinclair/typebox';

/** TypeBox schemas of notification's routes: validation, serialization, OpenAPI and the handlers' types. */

const Actor = Type.Object(
  { id: Id(), username: Nullable(Type.String()), displayName: Nullable(Type.String()) },
  { description: 'names are null until the account is known here' },
);

/** An item of the list and of the stream (`NotificationItem` in domain/types.ts). */
export const NotificationSchema = Type.Object({
  id: Id(),
  type: Type.Unsafe<string>({
    type: 'string',
    enum: ['like', 'comment', 'follow', 'follow_request', 'mention'],
  }),
  approved: Type.Optional(
    Type.Boolean({ description: 'on a follow_request item: the actor accepted the recipient’s request' }),
  ),
  actors: Type.Array(Actor, { description: 'the latest actors first' }),
  actorCount: Type.Integer(),
  postId: Type.Optional(Id()),
  commentId: Type.Optional(Id()),
  createdAt: Type.String({ format: 'date-time', description: 'the latest activity' }),
  read: Type.Boolean(),
});

export const NotificationList = Type.Object({
  items: Type.Array(NotificationSchema),
  nextCursor: Nullable(Type.String()),
  unreadCount: Type.Integer(),
});

export const ListQuery = PageQuery;
export type ListQuery = Static<typeof ListQuery>;

export const ReadBody = Type.Object(
  { upTo: Type.Optional(Id({ description: 'this item and everything listed after it; all when absent' })) },
  { additionalProperties: false },
);
export type ReadBody = Static<typeof ReadBody>;

export const StreamQuery = Type.Object({
  access_token: Type.Optional(Type.String({ description: 'the access token, for EventSource (no headers)' })),
  lastEventId: Type.Optional(Type.String({ description: 'replay after this event id (as Last-Event-ID)' })),
});
export type StreamQuery = Static<typeof StreamQuery>;

export const StreamHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ description: 'replay what came after this event id' })),
});

/** The stream's 200: Server-Sent Events, each `data:` a `Notification`. */
export const StreamReply = {
  description: 'text/event-stream: `id: <version>` and `data: <a notification as listed>` per event',
  content: { 'text/event-stream': { schema: Type.String() } },
};
