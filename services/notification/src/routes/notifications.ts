import { BEARER, NoContent, replies, sendJson, userOf } from '@instantpost/http';
import type { FastifyInstance } from 'fastify';
import { NotificationError, NotificationErrorCodes } from '../domain/errors.ts';
import type { Reader } from '../domain/reader.ts';
import { ListQuery, NotificationList, ReadBody } from './schemas.ts';

/** The list cursor is the version of the last item listed, kept opaque to clients. */
function encodeCursor(version: string): string {
  return Buffer.from(`v1:${version}`).toString('base64url');
}

function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString();
  const match = /^v1:(0|[1-9][0-9]{0,18})$/.exec(text);
  if (!match?.[1]) {
    throw new NotificationError(
      'invalid',
      NotificationErrorCodes.BadCursor,
      'cursor: not a cursor this endpoint returned',
      { field: 'cursor' },
    );
  }
  return match[1];
}

/** `GET /v1/notifications` and `POST /v1/notifications/read`. */
export function registerNotificationRoutes(app: FastifyInstance, reader: Reader): void {
  const tags = ['notifications'];
  app.get<{ Querystring: ListQuery }>(
    '/v1/notifications',
    {
      onRequest: app.requireUser,
      schema: {
        summary: "The caller's notifications, latest activity first, with the unread count",
        tags,
        security: BEARER,
        querystring: ListQuery,
        response: replies({ 200: NotificationList }, 400, 401),
      },
    },
    // Written by domain/reader.ts in the shape of NotificationList (which documents it): sent as is.
    async (request, reply) => {
      const before = request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor);
      const json = await reader.listJson(userOf(request).id, before, request.query.limit ?? 20, encodeCursor);
      return sendJson(request, reply, json);
    },
  );

  app.post<{ Body: ReadBody }>(
    '/v1/notifications/read',
    {
      onRequest: app.requireUser,
      // The body is optional: no body means "everything".
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
      schema: {
        summary: 'Marks every notification read, or the item `upTo` and everything listed after it',
        tags,
        security: BEARER,
        body: ReadBody,
        response: replies({ 204: NoContent }, 400, 401, 404),
      },
    },
    async (request, reply) => {
      const found = await reader.markRead(userOf(request).id, request.body.upTo);
      if (!found) {
        throw new NotificationError(
          'not_found',
          NotificationErrorCodes.NotFound,
          'upTo: no such notification',
          {
            field: 'upTo',
          },
        );
      }
      return reply.code(204).send();
    },
  );
}
