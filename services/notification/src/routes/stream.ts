import { randomUUID } from 'node:crypto';
import { BEARER, replies, userOf } from '@instantpost/http';
import type { FastifyInstance } from 'fastify';
import { NotificationError, NotificationErrorCodes } from '../domain/errors.ts';
import type { StreamEntry } from '../domain/reader.ts';
import type { StreamClient, StreamHub } from '../domain/stream-hub.ts';
import type { StreamRegistry } from '../store/stream-registry.ts';
import { StreamHeaders, StreamQuery, StreamReply } from './schemas.ts';

const ID = /^(0|[1-9][0-9]{0,18})$/;
/** A client this far behind (bytes not yet taken by the socket) is cut off; it reconnects with Last-Event-ID. */
const MAX_BUFFERED = 1024 * 1024;

/** One SSE frame: the event id is the item's version, the data the item as `GET /v1/notifications` lists it. */
export function frame(entry: StreamEntry): string {
  return `id: ${entry.version}\ndata: ${JSON.stringify(entry.item)}\n\n`;
}

/**
 * `GET /v1/notifications/stream`: Server-Sent Events, one unnamed event (`message`) per new or grown
 * item. The token comes as `Authorization: Bearer` or, for browser EventSource, `?access_token=`.
 * `Last-Event-ID` (sent by EventSource on reconnect) or `?lastEventId=` replays what was missed.
 */
export function registerStreamRoute(
  app: FastifyInstance,
  deps: { hub: StreamHub; registry: StreamRegistry; maxStreamsPerUser: number },
): void {
  const { hub, registry } = deps;
  app.get<{ Querystring: StreamQuery }>(
    '/v1/notifications/stream',
    {
      onRequest: app.requireUser,
      config: { acceptQueryToken: true },
      schema: {
        summary: 'Server-Sent Events: one event per new notification; comment-line heartbeats',
        description:
          'At most 5 open per user (a new one closes the oldest); closed when the token expires or the ' +
          'session ends. Reconnect with Last-Event-ID to get what was missed.',
        tags: ['notifications'],
        security: BEARER,
        produces: ['text/event-stream'],
        querystring: StreamQuery,
        headers: StreamHeaders,
        response: replies({ 200: StreamReply }, 400, 401),
      },
    },
    async (request, reply) => {
      const header = request.headers['last-event-id'];
      const lastEventId =
        (typeof header === 'string' && header !== '' ? header : undefined) ?? request.query.lastEventId;
      if (lastEventId !== undefined && !ID.test(lastEventId)) {
        throw new NotificationError(
          'invalid',
          NotificationErrorCodes.BadEventId,
          'Last-Event-ID: must be an event id this stream sent',
          { field: 'Last-Event-ID' },
        );
      }
      const user = userOf(request);
      const userId = user.id;
      const stream = { id: randomUUID(), openedAt: Date.now(), expiresAt: user.expiresAt };

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // nginx: pass events through at once instead of buffering the response.
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
      });
      res.write('retry: 2000\n: connected\n\n');

      let closed = false;
      const write = (text: string) => {
        if (closed) return;
        res.write(text);
        if (res.writableLength > MAX_BUFFERED) client.close();
      };
      const client: StreamClient = {
        id: stream.id,
        userId,
        sessionId: user.sessionId,
        send: (entry) => write(frame(entry)),
        heartbeat: () => write(': heartbeat\n\n'),
        close: () => {
          if (closed) return;
          closed = true;
          res.end();
        },
      };
      let detach: (() => void) | undefined;
      // The stream lives as long as its token: the client reconnects with a fresh one (Last-Event-ID).
      const expiry = setTimeout(() => client.close(), Math.max(0, user.expiresAt - Date.now()));
      res.on('close', () => {
        closed = true;
        clearTimeout(expiry);
        detach?.();
        registry.unregister(userId, stream).catch((err: unknown) => {
          request.log.warn({ err }, 'could not unregister a notification stream');
        });
      });
      try {
        detach = await hub.open(client, lastEventId);
        if (closed) detach();
        else await limitStreams(userId, stream);
      } catch (err) {
        request.log.error({ err }, 'could not open a notification stream');
        client.close();
      }
    },
  );

  /** The user's oldest streams beyond the limit are closed, wherever they are. Without Redis: no limit. */
  async function limitStreams(userId: string, stream: { id: string; openedAt: number; expiresAt: number }) {
    try {
      await registry.register(userId, stream, deps.maxStreamsPerUser);
    } catch (err) {
      app.log.warn({ err }, 'stream limit not enforced: the registry is unreachable');
    }
  }
}
