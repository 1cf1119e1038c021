import {
  openNamespace,
  startTcpProxy,
  stopTestInfra,
  type TcpProxy,
  type TestNamespace,
} from '@instantpost/testing';
import test from 'ava';
import { Harness, type User } from './helpers.ts';

// Redis holds the timelines, but it is never the only copy: with it cut off, GET /v1/feed computes the
// same page from the Postgres projections instead of failing.
let ns: TestNamespace;
let proxy: TcpProxy;
let h: Harness;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  const redis = new URL(ns.redis.url);
  proxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
  h = await Harness.open(ns, { REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
});
test.after.always(async () => {
  await proxy?.restore().catch(() => {});
  await h?.close();
  await proxy?.close();
  await ns?.close();
  await stopTestInfra();
});

test('with Redis cut off the home feed is served from Postgres: same posts, order, paging, counts', async (t) => {
  const reader = await h.user();
  const [a, b] = [await h.user(), await h.user()] as [User, User];
  await h.follow(reader, a);
  await h.follow(reader, b);
  await h.settled();
  const posts = [await h.post(a, 'one'), await h.post(b, 'two'), await h.post(a, 'three')];
  await h.publish('like.created', { postId: posts[1] as string, postAuthorId: b.id, userId: reader.id });
  await h.settled();
  const before = await h.feedOf(reader);
  t.deepEqual(
    before.items.map((i) => i.id),
    [...posts].reverse(),
  );

  await proxy.cut();
  const during = await h.feedOf(reader);
  t.deepEqual(
    during.items.map((i) => ({
      id: i.id,
      liked: i.viewerHasLiked,
      likes: i.likeCount,
      author: i.author.username,
    })),
    before.items.map((i) => ({
      id: i.id,
      liked: i.viewerHasLiked,
      likes: i.likeCount,
      author: i.author.username,
    })),
    'the same page, read from Postgres',
  );
  const first = await h.feedOf(reader, '?limit=2');
  t.is(first.items.length, 2);
  const second = await h.feedOf(reader, `?limit=2&cursor=${first.nextCursor}`);
  t.deepEqual(
    [...first.items, ...second.items].map((i) => i.id),
    [...posts].reverse(),
    'cursor paging works without Redis',
  );
  await proxy.restore();
});

test('a like and a comment projected while Redis is cut off show in the cached page once it is back', async (t) => {
  const reader = await h.user();
  const author = await h.user();
  await h.follow(reader, author);
  await h.settled();
  const postId = await h.post(author, 'counted');
  await h.until('the post reaches the reader', async () => (await h.feedIds(reader)).includes(postId));
  t.like((await h.feedOf(reader)).items[0], { id: postId, likeCount: 0, commentCount: 0 }, 'cached');

  // Postgres commits each event's counts, then the Redis write fails: the state a crash between the two
  // leaves. The redelivery finds nothing new to count and must still bring the cache up to date.
  await proxy.cut();
  await h.publish('like.created', { postId, postAuthorId: author.id, userId: reader.id });
  await h.publish('comment.created', {
    commentId: h.id(3),
    postId,
    postAuthorId: author.id,
    userId: reader.id,
    text: 'nice',
    mentions: [],
  });
  const shard = h.feed.infra.shards.forId(author.id);
  await h.until('both are counted in Postgres', async () => {
    const [row] = await shard.sql<{ like_count: number; comment_count: number }[]>`
      SELECT like_count, comment_count FROM ${shard.table('post_counts')} WHERE post_id = ${postId}`;
    return row?.like_count === 1 && row.comment_count === 1;
  });
  await proxy.restore();
  await h.settled();

  t.like((await h.feedOf(reader)).items[0], {
    id: postId,
    likeCount: 1,
    commentCount: 1,
    viewerHasLiked: true,
  });
});
