import { shardOf } from '@instantpost/ids';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { Harness } from './helpers.ts';

let ns: TestNamespace;
let h: Harness;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  h = await Harness.open(ns);
});
test.after.always(async () => {
  await h?.close();
  await ns?.close();
  await stopTestInfra();
});

test('a storm of likes and unlikes of one post, published at once and some twice: the feed count is the likers who like it last', async (t) => {
  const author = await h.user();
  const fans = await Promise.all(Array.from({ length: 30 }, () => h.user()));
  for (const fan of fans) await h.follow(fan, author);
  await h.settled();
  const postId = await h.post(author);
  await h.until('post reaches the fans', async () => (await h.feedIds(fans[0] ?? author)).includes(postId));
  await h.feedOf(fans[0] ?? author); // cached, so the batch's count changes must reach the cache too

  // Each fan likes, unlikes and likes again; every third fan ends with an unlike. Published together
  // (the projector takes them in batches); some events go out twice under new ids, as a replay would.
  const finalLikers = new Set<string>();
  const sends: Promise<unknown>[] = [];
  fans.forEach((fan, i) => {
    const steps = i % 3 === 0 ? [true, false, true, false] : [true, false, true];
    if (steps.at(-1)) finalLikers.add(fan.id);
    for (const liked of steps) {
      const time = h.nextTime();
      const data = { postId, postAuthorId: author.id, userId: fan.id };
      sends.push(h.publish(liked ? 'like.created' : 'like.deleted', data, time));
      if (i % 4 === 0) sends.push(h.publish(liked ? 'like.created' : 'like.deleted', data, time));
    }
  });
  await Promise.all(sends);
  await h.settled();

  for (const fan of fans) {
    const [item] = (await h.feedOf(fan)).items;
    t.like(item, { id: postId, likeCount: finalLikers.size, viewerHasLiked: finalLikers.has(fan.id) });
  }
});

test('a burst of comments on posts of several shards, some sent twice: each post counts each comment once', async (t) => {
  const reader = await h.user();
  const authors = await Promise.all(Array.from({ length: 3 }, () => h.user()));
  for (const author of authors) await h.follow(reader, author);
  await h.settled();
  const posts = await Promise.all(authors.map(async (author) => ({ author, id: await h.post(author) })));
  await h.until('the posts reach the reader', async () => (await h.feedIds(reader)).length === posts.length);
  await h.feedOf(reader); // cached, so the batch's counts must reach the cache too

  // Published together (the projector takes them in batches); every fourth again under a new event id.
  const sends: Promise<unknown>[] = [];
  posts.forEach((post, p) => {
    for (let i = 0; i < 5 + p; i++) {
      const data = {
        commentId: h.id(shardOf(post.id)),
        postId: post.id,
        postAuthorId: post.author.id,
        userId: reader.id,
        text: `comment ${i}`,
        mentions: [],
      };
      sends.push(h.publish('comment.created', data));
      if (i % 4 === 0) sends.push(h.publish('comment.created', data));
    }
  });
  await Promise.all(sends);
  await h.settled();

  const counts = new Map((await h.feedOf(reader)).items.map((item) => [item.id, item.commentCount]));
  t.deepEqual(
    posts.map((post) => counts.get(post.id)),
    posts.map((_, p) => 5 + p),
  );
});
