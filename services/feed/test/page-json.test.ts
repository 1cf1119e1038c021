import test from 'ava';
import Fastify from 'fastify';
import type { FeedPage } from '../src/domain/feed.ts';
import type { FeedItem } from '../src/domain/types.ts';
import { feedPageJson } from '../src/routes/page-json.ts';
import { feedReplySchema } from '../src/routes/schemas.ts';

// GET /v1/feed writes its JSON by hand (routes/page-json.ts) instead of through the response schema's
// serializer: a client must not see a byte of difference. These pages go through both and are compared.
// No infrastructure: this file only serializes.

const media: FeedItem['media'] = {
  width: 3024,
  height: 3780,
  blurhash: 'LEHV6nWB2yk8pyo0adR*.7kCMdnj',
  renditions: ['1080', '320'].flatMap((name) =>
    ['jpeg', 'webp'].map((format) => ({
      name,
      width: Number(name),
      height: Number(name),
      format,
      url: `https://cdn.example/42/${name}.${format === 'jpeg' ? 'jpg' : 'webp'}?e=1780000000&s=cgfruvisJkM1988imHbd6SJnRPS-AU11PNWNitcV3co`,
    })),
  ),
};

const item = (over: Partial<FeedItem> = {}): FeedItem => ({
  id: '9223372036854775807',
  author: { id: '1001', username: 'alice', displayName: 'Alice "A" \\ Liddell' },
  caption: 'Tea at the "Mad" Hatter’s — 🫖\n#wonderland \u0001 </script>',
  hashtags: ['wonderland', 'tea'],
  mentions: [{ userId: '1002', username: 'hatter' }],
  altText: 'a long table',
  createdAt: '2026-11-24T21:00:00.000Z',
  likeCount: 3,
  commentCount: 0,
  viewerHasLiked: true,
  media,
  ...over,
});

async function viaSchema(page: FeedPage): Promise<string> {
  const app = Fastify();
  app.get('/', { schema: { response: feedReplySchema } }, async () => page);
  const res = await app.inject({ url: '/' });
  await app.close();
  return res.body;
}

test('a page is written exactly as the response schema would serialize it', async (t) => {
  const shared = item();
  const page: FeedPage = {
    items: [
      shared,
      // The same post for another viewer state, sharing the cached parts: only counts and like differ.
      { ...shared, likeCount: 4, commentCount: 12, viewerHasLiked: false },
      item({
        id: '7',
        altText: null,
        hashtags: [],
        mentions: [],
        author: { id: '8', username: '', displayName: '' },
      }),
      // Shares the media object but not the caption: must not be written with the other item's caption.
      item({ id: '9', caption: 'another caption' }),
    ],
    nextCursor: '9',
  };
  const expected = await viaSchema(page);
  t.is(feedPageJson(page).toString(), expected);
  t.is(feedPageJson(page).toString(), expected, 'the second time, from the reused fragments, too');
  t.is(JSON.parse(feedPageJson(page).toString()).items[3].caption, 'another caption');
});

test('an empty last page and a page of one', async (t) => {
  const empty: FeedPage = { items: [], nextCursor: null };
  t.is(feedPageJson(empty).toString(), await viaSchema(empty));
  const one: FeedPage = { items: [item({ likeCount: 0 })], nextCursor: null };
  t.is(feedPageJson(one).toString(), await viaSchema(one));
});

test('a count that is not a number is an error, never invalid JSON', (t) => {
  t.throws(() => feedPageJson({ items: [item({ likeCount: Number.NaN })], nextCursor: null }), {
    message: /not an integer/,
  });
});

test('a page object written again gives the same bytes without writing them again', async (t) => {
  // FeedReader hands out the same page object while nothing on it changed: its bytes are reused.
  const page: FeedPage = { items: [item(), item({ id: '8', viewerHasLiked: false })], nextCursor: '8' };
  const bytes = feedPageJson(page);
  t.is(feedPageJson(page), bytes, 'the very same Buffer');
  t.is(bytes.toString(), await viaSchema(page));
  const copy: FeedPage = { ...page, items: [...page.items] };
  t.not(feedPageJson(copy), bytes, 'another page object is written anew');
  t.true(feedPageJson(copy).equals(bytes));
});
