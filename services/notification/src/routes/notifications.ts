import { badRequest, notFound } from '@instantpost/http';
import type { FastifyInstance } from 'fastify';
import type { Reader } from '../domain/reader.ts';

const ID = '^(0|[1-9][0-9]{0,18})$';

/** The list cursor is the version of the last item listed, kept opaque to clients. */
function encodeCursor(version: string): string {
  return Buffer.from(`v1:${version}`).toString('base64url');
}

function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString();
  const match = /^v1:(0|[1-9][0-9]{0,18})$/.exec(text);
  if (!match?.[1]) throw badRequest('cursor: not a cursor this endpoint returned', 'cursor');
  return match[1];
}

function userOf(request: { user?: { id: string } }): string {
  if (!request.user) throw new Error('requireUser did not run');
  return request.user.id;
}

/** `GET /v1/notifications` and `POST /v1/notifications/read`. */
export function registerNotificationRoutes(app: FastifyInstance, reader: Reader): void {
  app.get<{ Querystring: { cursor?: string; limit: number } }>(
    '/v1/notifications',
    {
      onRequest: app.requireUser,
      schema: {
        summary: "The caller's notifications, latest activity first, with the unread count",
        security: [{ bearer: [] }],
        querystring: {
          type: 'object',
          properties: {
            cursor: { type: 'string', maxLength: 100 },
            limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
          },
        },
      },
    },
    async (request) => {
      const before = request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor);
      const page = await reader.list(userOf(request), before, request.query.limit);
      return {
        items: page.items,
        nextCursor: page.nextVersion === null ? null : encodeCursor(page.nextVersion),
        unreadCount: page.unreadCount,
      };
    },
  );

  app.post<{ Body: { upTo?: string } | undefined }>(
    '/v1/notifications/read',
    {
      onRequest: app.requireUser,
      // The body is optional: no body means "everything".
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
      schema: {
        summary: 'Marks every notification read, or the item `upTo` and everything listed after it',
        security: [{ bearer: [] }],
        body: {
          type: 'object',
          properties: { upTo: { type: 'string', pattern: ID } },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const found = await reader.markRead(userOf(request), request.body?.upTo);
      if (!found) throw notFound('upTo: no such notification');
      return reply.code(204).send();
    },
  );
}
