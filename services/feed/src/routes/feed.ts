import { badRequest } from '@instantpost/http';
import { isId } from '@instantpost/ids';
import type { FastifyInstance } from 'fastify';
import type { FeedReader } from '../domain/feed.ts';
import { feedPageJson } from './page-json.ts';
import { feedQuerySchema, feedReplySchema } from './schemas.ts';

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;

function parseLimit(value: unknown): number {
  if (value === undefined || value === '') return DEFAULT_LIMIT;
  const n = typeof value === 'string' && /^[0-9]{1,4}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) {
    throw badRequest(`limit must be an integer from 1 to ${MAX_LIMIT}`, 'limit');
  }
  return n;
}

function parseCursor(value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!isId(value)) throw badRequest('cursor is not a cursor this endpoint returned', 'cursor');
  return value;
}

/** GET /v1/feed: the caller's home feed, newest first, as full post objects. */
export function feedRoutes(app: FastifyInstance, reader: FeedReader): void {
  app.get<{ Querystring: { cursor?: string; limit?: string } }>(
    '/v1/feed',
    {
      onRequest: app.requireUser,
      schema: { querystring: feedQuerySchema, response: feedReplySchema },
    },
    async (request, reply) => {
      const limit = parseLimit(request.query.limit);
      const cursor = parseCursor(request.query.cursor);
      const user = request.user;
      if (!user) throw new Error('requireUser let a request through without a user');
      // Written by page-json.ts in the shape of feedReplySchema (which documents it); a string with a
      // JSON content type is sent as is.
      const json = feedPageJson(await reader.page(user.id, cursor, limit));
      return reply.type('application/json; charset=utf-8').send(json);
    },
  );
}
