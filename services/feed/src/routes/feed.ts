import { BEARER, DomainError, PageQuery, replies, sendJson, userOf } from '@instantpost/http';
import { isId } from '@instantpost/ids';
import type { FastifyInstance } from 'fastify';
import type { FeedReader } from '../domain/feed.ts';
import { feedPageJson } from './page-json.ts';
import { feedReplySchema } from './schemas.ts';

/** Codes of the problems feed's routes answer with. */
export const FeedErrorCodes = {
  /** `?cursor=` is not a `nextCursor` this endpoint gave out. */
  BadCursor: 'FEED_BAD_CURSOR',
} as const;

function parseCursor(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!isId(value)) {
    throw new DomainError(
      'invalid',
      FeedErrorCodes.BadCursor,
      'cursor is not a cursor this endpoint returned',
      {
        field: 'cursor',
      },
    );
  }
  return value;
}

/** GET /v1/feed: the caller's home feed, newest first, as full post objects. */
export function feedRoutes(app: FastifyInstance, reader: FeedReader): void {
  app.get<{ Querystring: PageQuery }>(
    '/v1/feed',
    {
      onRequest: app.requireUser,
      schema: {
        summary: "The caller's home feed: posts of the accounts they follow and their own, newest first",
        tags: ['feed'],
        security: BEARER,
        querystring: PageQuery,
        response: replies(feedReplySchema, 400, 401),
      },
    },
    async (request, reply) => {
      const cursor = parseCursor(request.query.cursor);
      const limit = request.query.limit ?? 20;
      // Written by page-json.ts in the shape of feedReplySchema (which documents it), as bytes: sent as
      // they are, or as their gzip made once per page.
      return sendJson(request, reply, feedPageJson(await reader.page(userOf(request).id, cursor, limit)));
    },
  );
}
