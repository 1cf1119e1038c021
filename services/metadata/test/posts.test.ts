import { createEvent } from '@instantpost/events';
import { encode, shardOf } from '@instantpost/ids';
import { verifyMediaUrl } from '@instantpost/media-urls';
import test from 'ava';
import {
  call,
  type Fixture,
  MEDIA_BASE_URL,
  mediaIdFor,
  mediaProcessed,
  newPost,
  newUser,
  openMetadata,
  publish,
  publishRaw,
  recordEvents,
  type User,
  waitFor,
} from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openMetadata();
});
test.after.always(async () => {
  await fx?.close();
});

const tagIds = async (tag: string, viewer?: User) =>
  (
    await call(
      fx.svc,
      'GET',
      `/v1/tags/${encodeURIComponent(tag)}/posts`,
      viewer ? { token: viewer.token } : {},
    )
  ).body.items.map((p: { id: string }) => p.id);

test('media.processed becomes a post with one tag and one resolved mention; delete removes it everywhere', async (t) => {
  const alice = await newUser(fx.svc, { username: `alice_${Date.now() % 100000}` });
  const author = await newUser(fx.svc, { database: 1 });
  const stranger = await newUser(fx.svc, { database: 0 });
  const seen = recordEvents(fx, 'post.>');
  const tag = `sunset${Date.now() % 100000}`;
  const caption = `Evening #Sunset${tag.slice(6)} #${tag} @${alice.username} @nobody_here`;
  const mediaId = await mediaIdFor(fx, author.id);
  const processed = mediaProcessed({ mediaId, ownerId: author.id, caption, altText: 'a red sky' });
  await publish(fx, processed);
  // The same media delivered again (a republish with a new event id) does not make a second post.
  await publish(fx, createEvent('media.processed', processed.data as never, { source: '/test' }));

  const post = await waitFor('the post as the stranger sees it', async () => {
    const res = await call(fx.svc, 'GET', `/v1/posts/${mediaId}`, { token: stranger.token });
    return res.status === 200 ? res.body : undefined;
  });
  t.like(post, {
    id: mediaId,
    author: { id: author.id, username: author.username, displayName: author.username },
    caption,
    hashtags: [tag],
    mentions: [{ userId: alice.id, username: alice.username }],
    altText: 'a red sky',
    likeCount: 0,
    commentCount: 0,
    viewerHasLiked: false,
  });
  t.regex(post.createdAt, /^\d{4}-\d\d-\d\dT/);
  t.deepEqual(
    post.media.renditions.map(({ url, ...r }: { url: string }) => ({ ...r, url: url.split('?')[0] })),
    [
      {
        name: '1080',
        width: 1080,
        height: 720,
        format: 'jpeg',
        url: `${MEDIA_BASE_URL}/${mediaId}/1080.jpg`,
      },
      {
        name: '1080',
        width: 1080,
        height: 720,
        format: 'webp',
        url: `${MEDIA_BASE_URL}/${mediaId}/1080.webp`,
      },
      {
        name: 'thumb',
        width: 150,
        height: 150,
        format: 'jpeg',
        url: `${MEDIA_BASE_URL}/${mediaId}/thumb.jpg`,
      },
    ],
  );
  // Signed for this service's key, one expiry for the whole reply, 24-25 h ahead.
  const key = fx.keys.env.MEDIA_URL_SIGNING_KEY;
  const checked = post.media.renditions.map((r: { url: string }) => verifyMediaUrl(r.url, key));
  t.true(
    checked.every((c: { valid: boolean }) => c.valid),
    JSON.stringify(checked),
  );
  const expiries = new Set(checked.map((c: { expires?: number }) => c.expires));
  t.is(expiries.size, 1);
  const hours = ((checked[0]?.expires ?? 0) * 1000 - Date.now()) / 3_600_000;
  t.true(hours > 23.9 && hours <= 25, `valid for ${hours} h`);
  t.false(verifyMediaUrl(post.media.renditions[0].url, 'another-key-another-key-another-key').valid);
  t.like(post.media, { width: 1080, height: 720, blurhash: 'LEHV6nWB2yk8pyo0adR*.7kCMdnj' });

  t.deepEqual(
    await waitFor('the tag page to list posts', async () => {
      const ids = await tagIds(tag);
      return ids.length > 0 ? ids : undefined;
    }),
    [mediaId],
  );
  t.deepEqual(await tagIds(`#${tag.toUpperCase()}`), [mediaId], 'tags are case-folded');
  const grid = await call(fx.svc, 'GET', `/v1/users/${author.id}/posts`);
  t.deepEqual(
    grid.body.items.map((p: { id: string }) => p.id),
    [mediaId],
  );
  t.is((await call(fx.svc, 'GET', `/v1/users/${author.username}`)).body.counts.posts, 1);

  t.is((await call(fx.svc, 'DELETE', `/v1/posts/${mediaId}`, { token: stranger.token })).status, 403);
  t.is((await call(fx.svc, 'DELETE', `/v1/posts/${mediaId}`)).status, 401);
  t.is((await call(fx.svc, 'DELETE', `/v1/posts/${mediaId}`, { token: author.token })).status, 204);
  t.is((await call(fx.svc, 'GET', `/v1/posts/${mediaId}`, { token: author.token })).status, 404);
  t.is((await call(fx.svc, 'DELETE', `/v1/posts/${mediaId}`, { token: author.token })).status, 404);
  await waitFor('the tag page to be empty', async () => (await tagIds(tag)).length === 0);
  t.deepEqual((await call(fx.svc, 'GET', `/v1/users/${author.id}/posts`)).body.items, []);
  t.is((await call(fx.svc, 'GET', `/v1/users/${author.username}`)).body.counts.posts, 0);

  const mine = () => seen.events.filter((e) => (e.data as { postId: string }).postId === mediaId);
  await waitFor('two events of this test', async () => mine().length >= 2);
  await new Promise((r) => setTimeout(r, 300));
  seen.stop();
  t.deepEqual(
    mine().map((e) => e.type),
    ['post.published', 'post.deleted'],
    'one post.published for two deliveries',
  );
  t.like(mine()[0]?.data, {
    postId: mediaId,
    mediaId,
    authorId: author.id,
    caption,
    hashtags: [tag],
    mentions: [{ userId: alice.id, username: alice.username }],
    altText: 'a red sky',
  });
  t.deepEqual(mine()[1]?.data, { postId: mediaId, authorId: author.id });
});

test('a malformed media.processed and one for an unknown owner go to the DLQ; the consumer carries on', async (t) => {
  const author = await newUser(fx.svc);
  const letters = recordEvents(fx, 'dlq.media.processed');
  await publishRaw(
    fx,
    'media.processed',
    '{"specversion":"1.0","type":"media.processed","data":{"mediaId":"1"}}',
  );
  // An owner id on the author's shard (so only the missing account is wrong) that has no account.
  const ghost = encode({ time: Date.now() - 60_000, shard: shardOf(author.id), sequence: 7 }).toString();
  await publish(fx, mediaProcessed({ mediaId: await mediaIdFor(fx, author.id), ownerId: ghost }));
  await waitFor('two dead letters', async () => letters.events.length >= 2);
  letters.stop();
  const errors = letters.events.map(
    (l) => (l as unknown as { error: { code: string; message: string } }).error,
  );
  t.is(errors.length, 2);
  t.true(
    errors.some((e) => e.code === 'NOT_CLOUDEVENT'),
    JSON.stringify(errors),
  );
  t.true(
    errors.some((e) => e.code === 'BUS_NON_RETRYABLE' && e.message.includes('has no account')),
    JSON.stringify(errors),
  );
  t.is((await call(fx.svc, 'GET', `/v1/users/${author.id}/posts`)).body.items.length, 0, 'no post was made');
  const id = await newPost(fx, author, 'after the bad ones');
  t.is((await call(fx.svc, 'GET', `/v1/posts/${id}`)).body.caption, 'after the bad ones');
});

const likeCountOf = async (id: string): Promise<number> =>
  (await call(fx.svc, 'GET', `/v1/posts/${id}`)).body.likeCount;
const commentCountOf = async (id: string): Promise<number> =>
  (await call(fx.svc, 'GET', `/v1/posts/${id}`)).body.commentCount;

test('likes are idempotent, comments are validated; their events carry postAuthorId', async (t) => {
  const author = await newUser(fx.svc, { database: 0 });
  const fan = await newUser(fx.svc, { database: 1 });
  const id = await newPost(fx, author, 'like me');
  const seen = recordEvents(fx, 'like.>');
  const comments = recordEvents(fx, 'comment.created');

  for (let i = 0; i < 2; i++) {
    t.is((await call(fx.svc, 'POST', `/v1/posts/${id}/likes`, { token: fan.token })).status, 204);
  }
  const liked = await call(fx.svc, 'GET', `/v1/posts/${id}`, { token: fan.token });
  t.true(liked.body.viewerHasLiked, "the viewer's own like shows at once");
  // The count follows from the like's event (metadata-counters), a moment later.
  await waitFor('the like to be counted once', async () => (await likeCountOf(id)) === 1);
  t.false((await call(fx.svc, 'GET', `/v1/posts/${id}`, { token: author.token })).body.viewerHasLiked);
  for (let i = 0; i < 2; i++) {
    t.is((await call(fx.svc, 'DELETE', `/v1/posts/${id}/likes`, { token: fan.token })).status, 204);
  }
  await waitFor('the unlike to be counted', async () => (await likeCountOf(id)) === 0);

  const first = await call(fx.svc, 'POST', `/v1/posts/${id}/comments`, {
    token: fan.token,
    body: { text: `nice one @${author.username}` },
  });
  t.is(first.status, 201);
  t.like(first.body, {
    author: { id: fan.id, username: fan.username },
    text: `nice one @${author.username}`,
  });
  t.regex(first.body.id, /^[1-9][0-9]+$/);
  t.regex(first.body.createdAt, /^\d{4}-/);
  await call(fx.svc, 'POST', `/v1/posts/${id}/comments`, {
    token: author.token,
    body: { text: 'thanks 🙏' },
  });
  const list = await call(fx.svc, 'GET', `/v1/posts/${id}/comments`);
  t.deepEqual(
    list.body.items.map((c: { text: string }) => c.text),
    [`nice one @${author.username}`, 'thanks 🙏'],
  );
  await waitFor('two comments counted', async () => (await commentCountOf(id)) === 2);

  for (const [body, field] of [
    [{ text: '' }, 'text'],
    [{ text: 'x'.repeat(2201) }, 'text'],
    [{ text: 42 }, 'text'],
    [{}, 'text'],
    [{ text: 'nul \u0000' }, 'text'],
  ] as const) {
    const res = await call(fx.svc, 'POST', `/v1/posts/${id}/comments`, { token: fan.token, body });
    t.is(res.status, 400);
    t.is(res.body.field, field);
  }
  t.is(
    (
      await call(fx.svc, 'POST', `/v1/posts/${id}/comments`, {
        token: fan.token,
        body: { text: 'y'.repeat(2200) },
      })
    ).status,
    201,
  );
  await waitFor(
    'three comments counted: refused ones were not stored',
    async () => (await commentCountOf(id)) === 3,
  );

  t.is((await call(fx.svc, 'POST', '/v1/posts/123456789012/likes', { token: fan.token })).status, 404);
  t.is(
    (await call(fx.svc, 'POST', '/v1/posts/1;DROP%20TABLE%20posts/likes', { token: fan.token })).body.field,
    'id',
  );

  const onPost = <E extends { data: unknown }>(events: E[]) =>
    events.filter((e) => (e.data as { postId: string }).postId === id);
  await waitFor(
    'the like and comment events of the post',
    async () => onPost(seen.events).length >= 2 && onPost(comments.events).length >= 3,
  );
  await new Promise((r) => setTimeout(r, 300));
  seen.stop();
  comments.stop();
  t.deepEqual(
    onPost(seen.events).map((e) => [e.type, e.data]),
    [
      ['like.created', { postId: id, postAuthorId: author.id, userId: fan.id }],
      ['like.deleted', { postId: id, postAuthorId: author.id, userId: fan.id }],
    ],
  );
  t.is(onPost(comments.events).length, 3, 'one event per stored comment, none for the refused ones');
  t.deepEqual(onPost(comments.events)[0]?.data, {
    commentId: first.body.id,
    postId: id,
    postAuthorId: author.id,
    userId: fan.id,
    text: `nice one @${author.username}`,
    mentions: [{ userId: author.id, username: author.username }],
  });
});

test("a private account's posts are 404 to strangers and visible to approved followers", async (t) => {
  const priv = await newUser(fx.svc, { database: 1 });
  const follower = await newUser(fx.svc, { database: 0 });
  const stranger = await newUser(fx.svc, { database: 0 });
  await call(fx.svc, 'PATCH', '/v1/me', { token: priv.token, body: { isPrivate: true } });
  const tag = `secret${Date.now() % 100000}`;
  const id = await newPost(fx, priv, `#${tag}`);
  await call(fx.svc, 'POST', `/v1/users/${priv.id}/follow`, { token: follower.token });
  await waitFor(
    'the follow requests to be listed',
    async () =>
      (await call(fx.svc, 'GET', '/v1/follow-requests', { token: priv.token })).body.items.length === 1,
  );
  t.is(
    (await call(fx.svc, 'GET', `/v1/posts/${id}`, { token: follower.token })).status,
    404,
    'a pending request sees nothing',
  );
  await call(fx.svc, 'POST', `/v1/follow-requests/${follower.id}/approve`, { token: priv.token });

  for (const viewer of [stranger, undefined]) {
    const opts = viewer ? { token: viewer.token } : {};
    t.is((await call(fx.svc, 'GET', `/v1/posts/${id}`, opts)).status, 404);
    t.is((await call(fx.svc, 'GET', `/v1/posts/${id}/comments`, opts)).status, 404);
    t.is((await call(fx.svc, 'GET', `/v1/users/${priv.id}/posts`, opts)).status, 404);
  }
  t.is((await call(fx.svc, 'POST', `/v1/posts/${id}/likes`, { token: stranger.token })).status, 404);
  t.is(
    (await call(fx.svc, 'POST', `/v1/posts/${id}/comments`, { token: stranger.token, body: { text: 'hi' } }))
      .status,
    404,
  );
  t.is((await call(fx.svc, 'DELETE', `/v1/posts/${id}`, { token: stranger.token })).status, 404);

  t.is((await call(fx.svc, 'GET', `/v1/posts/${id}`, { token: follower.token })).status, 200);
  t.is((await call(fx.svc, 'GET', `/v1/posts/${id}`, { token: priv.token })).status, 200);
  t.is(
    (await call(fx.svc, 'GET', `/v1/users/${priv.id}/posts`, { token: follower.token })).body.items.length,
    1,
  );
  t.is((await call(fx.svc, 'POST', `/v1/posts/${id}/likes`, { token: follower.token })).status, 204);
  await waitFor('the tag page to list the post', async () => (await tagIds(tag, follower)).length === 1);
  t.deepEqual(await tagIds(tag, stranger), [], 'the tag listing hides it from strangers');
});

test('hostile tag and post ids: SQL metacharacters find nothing, wrong ids are 400', async (t) => {
  const res = await call(fx.svc, 'GET', `/v1/tags/${encodeURIComponent("x' OR '1'='1")}/posts`);
  t.is(res.status, 200);
  t.deepEqual(res.body, { items: [], nextCursor: null });
  const bad = await call(fx.svc, 'GET', '/v1/posts/-1');
  t.is(bad.status, 400);
  t.is(bad.body.field, 'id');
  t.is((await call(fx.svc, 'GET', '/v1/posts/99999999999999999999')).status, 400);
});

test('the profile grid and comments page with a cursor: grid newest first, comments oldest first', async (t) => {
  const author = await newUser(fx.svc);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(await newPost(fx, author, `grid ${i}`));
  const first = await call(fx.svc, 'GET', `/v1/users/${author.id}/posts?limit=2`);
  t.deepEqual(
    first.body.items.map((p: { id: string }) => p.id),
    [ids[2], ids[1]],
  );
  const second = await call(
    fx.svc,
    'GET',
    `/v1/users/${author.id}/posts?limit=2&cursor=${first.body.nextCursor}`,
  );
  t.deepEqual(
    second.body.items.map((p: { id: string }) => p.id),
    [ids[0]],
  );
  t.is(second.body.nextCursor, null);

  const post = ids[0] as string;
  for (const text of ['one', 'two', 'three']) {
    await call(fx.svc, 'POST', `/v1/posts/${post}/comments`, { token: author.token, body: { text } });
  }
  const page1 = await call(fx.svc, 'GET', `/v1/posts/${post}/comments?limit=2`);
  const page2 = await call(
    fx.svc,
    'GET',
    `/v1/posts/${post}/comments?limit=2&cursor=${page1.body.nextCursor}`,
  );
  t.deepEqual(
    [...page1.body.items, ...page2.body.items].map((c: { text: string }) => c.text),
    ['one', 'two', 'three'],
  );
  t.is(page2.body.nextCursor, null);
  t.is((await call(fx.svc, 'GET', `/v1/users/${author.id}/posts?limit=101`)).body.field, 'limit');
});
