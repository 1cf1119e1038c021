import { gunzipSync } from 'node:zlib';
import test from 'ava';
import { bucketOf } from '../src/store/cache.ts';
import { call, type Fixture, newPost, newUser, openMetadata, waitFor } from './helpers.ts';

let fx: Fixture;
test.before(async () => {
  fx = await openMetadata({ POST_AUTHOR_BUCKETS: '16' });
});
test.after.always(async () => {
  await fx?.close();
});

const countsOf = async (id: string) => {
  const body = (await call(fx.svc, 'GET', `/v1/posts/${id}`)).body;
  return { likes: body.likeCount as number, comments: body.commentCount as number };
};

test('posts are cached in Redis and the writes that change them drop the copy', async (t) => {
  const redis = fx.svc.infra.redis;
  const author = await newUser(fx.svc);
  const fan = await newUser(fx.svc);
  const id = await newPost(fx, author, 'cached');
  t.is((await call(fx.svc, 'GET', `/v1/posts/${id}`)).body.likeCount, 0);
  t.truthy(await redis.get(`post:${id}`), 'the post is cached after a read');

  // A like changes the counts only when metadata-counters applies it; that drops the cached copy.
  await call(fx.svc, 'POST', `/v1/posts/${id}/likes`, { token: fan.token });
  await waitFor(
    'the like counted, not hidden by the cached copy',
    async () => (await countsOf(id)).likes === 1,
  );
  await call(fx.svc, 'POST', `/v1/posts/${id}/comments`, { token: fan.token, body: { text: 'hi' } });
  await waitFor('the comment counted', async () => (await countsOf(id)).comments === 1);

  // Redis is a cache, never the only copy: with every key gone the answers stay the same.
  // (Only this post's field of its author-map bucket: the bucket is shared with the other tests' posts.)
  await redis.del(`post:${id}`, `account:${author.id}`, `counts:${author.id}`);
  await redis.hdel(`pa:${bucketOf(id, 16)}`, id);
  const rebuilt = await call(fx.svc, 'GET', `/v1/posts/${id}`, { token: fan.token });
  t.like(rebuilt.body, {
    id,
    likeCount: 1,
    commentCount: 1,
    viewerHasLiked: true,
    author: { id: author.id },
  });
  await call(fx.svc, 'DELETE', `/v1/posts/${id}/likes`, { token: fan.token });
  await waitFor('the unlike counted', async () => (await countsOf(id)).likes === 0);
});

test('profiles and counts are cached and refreshed by profile edits, follows and posts', async (t) => {
  const redis = fx.svc.infra.redis;
  const star = await newUser(fx.svc);
  const fan = await newUser(fx.svc);
  const before = await call(fx.svc, 'GET', `/v1/users/${star.username}`);
  t.deepEqual(before.body.counts, { posts: 0, followers: 0, following: 0 });
  t.truthy(await redis.get(`account:${star.id}`));
  t.true(((await redis.pttl(`counts:${star.id}`)) as number) > 3_000_000, 'cached for CACHE_TTL_SECONDS');
  t.truthy(await redis.get(`counts:${star.id}`));

  await call(fx.svc, 'PATCH', '/v1/me', { token: star.token, body: { displayName: 'Star ✨' } });
  t.is((await call(fx.svc, 'GET', `/v1/users/${star.username}`)).body.displayName, 'Star ✨');

  await call(fx.svc, 'POST', `/v1/users/${star.id}/follow`, { token: fan.token });
  t.is((await call(fx.svc, 'GET', `/v1/users/${fan.username}`)).body.counts.following, 1);
  await waitFor(
    'the star to show one follower',
    async () => (await call(fx.svc, 'GET', `/v1/users/${star.username}`)).body.counts.followers === 1,
  );
  await newPost(fx, star, 'counted');
  t.is((await call(fx.svc, 'GET', `/v1/users/${star.username}`)).body.counts.posts, 1);
});

test('the post → author map lives in hash buckets stored as listpacks', async (t) => {
  const redis = fx.svc.infra.redis;
  const author = await newUser(fx.svc);
  const fan = await newUser(fx.svc);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(await newPost(fx, author, `post ${i}`));
  for (const id of ids) {
    // Filled by the media.processed handler right after the post commits (a read may come in between).
    const mapped = await waitFor(
      'the post author in its bucket',
      async () => (await redis.hget(`pa:${bucketOf(id, 16)}`, id)) ?? undefined,
    );
    t.is(mapped, author.id, 'filled when the post is created');
    t.is(await redis.exists(`pa:${id}`), 0, 'no key per post');
  }
  const key = `pa:${bucketOf(ids[0] as string, 16)}`;
  await redis.hdel(key, ids[0] as string);
  await call(fx.svc, 'POST', `/v1/posts/${ids[0]}/likes`, { token: fan.token });
  t.is(await redis.hget(key, ids[0] as string), author.id, 'refilled from Postgres on the like path');
  // OBJECT is not prefixed by the client (its key is not the first argument).
  t.is(await redis.object('ENCODING', `${fx.svc.config.redisPrefix}${key}`), 'listpack');
});

test('a reader that loaded a post before its like was counted cannot put its stale copy back', async (t) => {
  const redis = fx.svc.infra.redis;
  const author = await newUser(fx.svc);
  const fan = await newUser(fx.svc);
  const id = await newPost(fx, author, 'race');
  const stale = await redis.get(`post:${id}`);
  await redis.del(`post:${id}`);
  const loadedBeforeTheLike = (await call(fx.svc, 'GET', `/v1/posts/${id}`)).body;
  t.is(loadedBeforeTheLike.likeCount, 0);
  await call(fx.svc, 'POST', `/v1/posts/${id}/likes`, { token: fan.token });
  await waitFor('metadata-counters to count the like and drop the copy', async () => {
    const shard = fx.svc.infra.shards.forId(id);
    const [row] = await shard.sql<{ like_count: number }[]>`
      SELECT like_count FROM ${shard.table('posts')} WHERE id = ${id}`;
    return row?.like_count === 1 && (await redis.get(`post:${id}`)) === '';
  });
  // The slow reader's fill (SET NX, as the service does it) arrives after the counter's invalidation.
  const filled = await redis.set(`post:${id}`, stale ?? '{}', 'EX', 60, 'NX');
  t.is(filled, null, 'the tombstone refuses the stale fill');
  t.is((await call(fx.svc, 'GET', `/v1/posts/${id}`)).body.likeCount, 1);
});

test('a grid page read again is reused only until something on it changes', async (t) => {
  // metadata keeps each (viewer, author) first page's bytes while the grid read answers the same raw values
  // (in one URL bucket: an hour here); every change below must show at the next read (counts: once counted).
  const author = await newUser(fx.svc);
  const fan = await newUser(fx.svc);
  const other = await newUser(fx.svc);
  const other2 = await newUser(fx.svc);
  const first = await newPost(fx, author, 'first');
  const grid = async () =>
    (await call(fx.svc, 'GET', `/v1/users/${author.id}/posts`, { token: fan.token })).body.items as {
      id: string;
      likeCount: number;
      viewerHasLiked: boolean;
    }[];
  // A new post leaves the grid's 5 s tombstone (no fill lands before): after it, the grid is warm.
  await new Promise((resolve) => setTimeout(resolve, 5100));
  for (let i = 0; i < 3; i++)
    t.deepEqual(
      (await grid()).map((p) => p.id),
      [first],
    ); // flags cached: kept
  const second = await newPost(fx, author, 'second');
  t.deepEqual(
    (await grid()).map((p) => p.id),
    [second, first],
    'a new post',
  );
  await grid();
  await call(fx.svc, 'POST', `/v1/posts/${first}/likes`, { token: other.token });
  await waitFor('another user’s like counted on the page', async () => (await grid())[1]?.likeCount === 1);
  await grid();
  await call(fx.svc, 'POST', `/v1/posts/${first}/likes`, { token: fan.token });
  t.true((await grid())[1]?.viewerHasLiked, 'the viewer’s own like, at once');
  // Another read (the post itself) takes the changed post into the process before the grid is read again:
  // the kept page is not served for values it was not built from.
  await grid();
  await call(fx.svc, 'POST', `/v1/posts/${first}/likes`, { token: other2.token });
  await waitFor(
    'the like counted on the post',
    async () => (await call(fx.svc, 'GET', `/v1/posts/${first}`, { token: fan.token })).body.likeCount === 3,
  );
  t.is((await grid())[1]?.likeCount, 3, 'the grid at once');
});

test('a post read again by the same viewer is reused only until something on it changes', async (t) => {
  // metadata keeps each (viewer, post) reply while Redis tracking keeps what it was made from; every change
  // below must show at the next read (counts: once counted).
  const author = await newUser(fx.svc);
  const fan = await newUser(fx.svc);
  const other = await newUser(fx.svc);
  const id = await newPost(fx, author, 'kept');
  const view = async () =>
    (await call(fx.svc, 'GET', `/v1/posts/${id}`, { token: fan.token })).body as {
      likeCount: number;
      commentCount: number;
      viewerHasLiked: boolean;
      author: { displayName: string };
    };
  for (let i = 0; i < 3; i++) t.is((await view()).likeCount, 0);
  await call(fx.svc, 'POST', `/v1/posts/${id}/likes`, { token: other.token });
  await waitFor('another user’s like counted', async () => (await view()).likeCount === 1);
  await view();
  await call(fx.svc, 'POST', `/v1/posts/${id}/likes`, { token: fan.token });
  await waitFor('the viewer’s own like', async () => (await view()).viewerHasLiked);
  await view();
  await call(fx.svc, 'POST', `/v1/posts/${id}/comments`, { token: other.token, body: { text: 'nice' } });
  await waitFor('the comment counted', async () => (await view()).commentCount === 1);
  await view();
  const renamed = await call(fx.svc, 'PATCH', '/v1/me', {
    token: author.token,
    body: { displayName: 'Renamed' },
  });
  t.is(renamed.status, 200);
  await waitFor('the author’s new name', async () => (await view()).author.displayName === 'Renamed');
});

test('kept grid pages go gzipped to clients that accept it, and anew once a like changes them', async (t) => {
  const author = await newUser(fx.svc);
  const fan = await newUser(fx.svc);
  const ids = [await newPost(fx, author, 'one'), await newPost(fx, author, 'two')];
  const liked = await newPost(fx, author, 'three');
  const read = (url: string, gzip: boolean) =>
    fx.svc.app.inject({
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${fan.token}`, ...(gzip ? { 'accept-encoding': 'gzip' } : {}) },
    });
  const unzipped = async (url: string) => {
    const res = await read(url, true);
    t.is(res.headers['content-encoding'], 'gzip', url);
    return gunzipSync(res.rawPayload);
  };
  // (a single post's reply, ~0.9 KB, is under the 1 KB worth compressing: it always goes as it is)
  const grid = `/v1/users/${author.id}/posts`;
  // kept once warm (the first reads fill the caches and the viewer's flags); a kept reply names the Vary
  await waitFor(
    'the grid page is kept',
    async () => (await read(grid, false)).headers.vary === 'Accept-Encoding',
  );
  const plain = await read(grid, false);
  t.is(plain.headers['content-encoding'], undefined);
  t.deepEqual(await unzipped(grid), plain.rawPayload, 'byte for byte the same JSON');
  t.deepEqual(
    (JSON.parse((await unzipped(grid)).toString()) as { items: { id: string }[] }).items.map((p) => p.id),
    [liked, ...ids.reverse()],
  );

  await call(fx.svc, 'POST', `/v1/posts/${liked}/likes`, { token: fan.token });
  // (the next reads may go as they are while the page is made and kept again)
  await waitFor('the gzipped grid shows the like', async () => {
    const res = await read(grid, true);
    if (res.headers['content-encoding'] !== 'gzip') return false;
    const page = JSON.parse(gunzipSync(res.rawPayload).toString()) as {
      items: { id: string; likeCount: number; viewerHasLiked: boolean }[];
    };
    return page.items[0]?.likeCount === 1 && page.items[0].viewerHasLiked;
  });
  // Anonymous readers' pages (no flags at all) are kept too.
  await waitFor(
    'the anonymous grid page is kept',
    async () => (await fx.svc.app.inject({ url: grid })).headers.vary === 'Accept-Encoding',
  );
  t.pass();
});
