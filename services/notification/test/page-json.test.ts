import test from 'ava';
import Fastify from 'fastify';
import { itemJson } from '../src/domain/reader.ts';
import type { NotificationItem } from '../src/domain/types.ts';
import { NotificationList } from '../src/routes/schemas.ts';

// GET /v1/notifications replies with JSON written by hand (domain/reader.ts; the first page is cached in
// Redis as that text): a client must not see a byte of difference from the response schema's serializer.
// No infrastructure: this file only serializes.

async function viaSchema(value: unknown): Promise<string> {
  const app = Fastify();
  app.get('/', { schema: { response: { 200: NotificationList } } }, async () => value);
  const res = await app.inject({ url: '/' });
  await app.close();
  return res.body;
}

const items: NotificationItem[] = [
  {
    id: '9223372036854775807',
    type: 'like',
    actors: [
      { id: '1', username: 'alice', displayName: 'Alice "A" \\ Liddell 🫖 </script>' },
      { id: '2', username: null, displayName: null },
    ],
    actorCount: 5,
    postId: '77',
    createdAt: '2026-11-24T21:00:00.000Z',
    read: false,
  },
  {
    id: '8',
    type: 'follow_request',
    approved: true,
    actors: [{ id: '3', username: 'bob', displayName: '' }],
    actorCount: 1,
    createdAt: '2026-11-24T21:00:01.000Z',
    read: true,
  },
  {
    id: '9',
    type: 'comment',
    actors: [],
    actorCount: 0,
    postId: '77',
    commentId: '78',
    createdAt: '2026-11-24T21:00:02.000Z',
    read: false,
  },
];

test('a page is written exactly as the response schema would serialize it', async (t) => {
  for (const [page, nextCursor, unreadCount] of [
    [items, 'djE6MTIz', 2],
    [[], null, 0],
    [items.slice(1), null, 1],
  ] as const) {
    const json = `{"items":[${page.map(itemJson).join(',')}],"nextCursor":${nextCursor === null ? 'null' : JSON.stringify(nextCursor)},"unreadCount":${unreadCount}}`;
    t.is(json, await viaSchema({ items: page, nextCursor, unreadCount }));
  }
});
