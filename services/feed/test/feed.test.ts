import { gunzipSync } from 'node:zlib';
import { dlqSubjectFor, natsSubjectFor, parseDeadLetter, streamNameFor } from '@instantpost/bus';
import { createEvent } from '@instantpost/events';
import { shardOf } from '@instantpost/ids';
import { verifyMediaUrl } from '@instantpost/media-urls';
import { openNamespace, sleep, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { type FeedBody, Harness, postData } from './helpers.ts';

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

test.serial(
  'A follows B, B posts: the post is in A’s feed, newest first, as a full post object',
  async (t) => {
    const a = await h.user();
    const b = await h.user();
    await h.follow(a, b);
    await h.settled();
    t.deepEqual((await h.feedOf(a)).items, [], 'nothing yet (this read also builds A’s timeline)');
    await h.feedOf(b);
    const first = await h.post(b, 'first #test');
    const second = await h.post(b, 'second');
    const own = await h.post(a, 'my own');
    await h.until('three posts in A’s feed', async () => (await h.feedIds(a)).length === 3);

    const feed = await h.feedOf(a);
    t.deepEqual(
      feed.items.map((i) => i.id),
      [own, second, first],
    );
    t.is(feed.nextCursor, null);
    const item = feed.items[1];
    t.like(item, {
      id: second,
      author: { id: b.id, username: b.username, displayName: 'User 1' },
      caption: 'second',
      hashtags: ['test'],
      mentions: [],
      altText: 'alt',
      likeCount: 0,
      commentCount: 0,
      viewerHasLiked: false,
      media: { width: 1080, height: 1350, blurhash: 'LEHV6nWB2yk8pyo0adR*.7kCMdnj' },
    });
    const renditions = item?.media.renditions ?? [];
    const mediaId = new URL(renditions[0]?.url ?? 'http://x').pathname.split('/').at(-2);
    t.deepEqual(
      renditions.map((r) => [r.name, r.format, new URL(r.url).origin + new URL(r.url).pathname]),
      [
        ['1080', 'jpeg', `http://localhost:8080/media/${mediaId}/1080.jpg`],
        ['thumb', 'jpeg', `http://localhost:8080/media/${mediaId}/thumb.jpg`],
      ],
      'rendition URLs point at the gateway’s media path, as metadata’s do',
    );
    const key = h.keys.env.MEDIA_URL_SIGNING_KEY;
    for (const r of renditions) {
      const checked = verifyMediaUrl(r.url, key);
      t.true(checked.valid, `${r.url} is signed with the configured key`);
      const hours = checked.valid ? (checked.expires * 1000 - Date.now()) / 3_600_000 : 0;
      t.true(hours > 23.9 && hours <= 25, `${r.url} is valid for 24 to 25 hours, not ${hours}`);
    }
    t.false(verifyMediaUrl(renditions[0]?.url.replace('1080.jpg', 'thumb.jpg') ?? '', key).valid);
    t.deepEqual(await h.feedIds(b), [second, first], 'B sees their own posts, not A’s');
    const timeline = await h.feed.infra.redis.zrange(`tl:${a.id}`, 0, -1);
    t.is(
      timeline.length,
      4,
      'fan-out on write put the three posts into A’s Redis timeline (plus its marker)',
    );
    t.true(
      (await h.feed.infra.redis.ttl(`tl:${a.id}`)) > 0,
      'a timeline expires when its user stops reading',
    );
  },
);

test.serial('an inactive follower is skipped by fan-out and gets a rebuilt timeline on return', async (t) => {
  const a = await h.user();
  const b = await h.user();
  await h.follow(a, b);
  await h.settled();
  const old = await h.post(b);
  await h.settled();
  t.deepEqual(await h.feedIds(a), [old]);
  // Every read pushes the expiry back to FEED_INACTIVE_AFTER_SECONDS (30 days by default).
  await h.feed.infra.redis.expire(`tl:${a.id}`, 100);
  await h.feedOf(a);
  t.true((await h.feed.infra.redis.ttl(`tl:${a.id}`)) > 2_000_000, 'a read keeps the timeline alive');
  // Expiry after FEED_INACTIVE_AFTER_SECONDS without a read, simulated by removing the key.
  await h.feed.infra.redis.del(`tl:${a.id}`);
  const recent = await h.post(b);
  await h.settled();
  t.is(await h.feed.infra.redis.exists(`tl:${a.id}`), 0, 'fan-out did not write to the inactive timeline');
  t.deepEqual(await h.feedIds(a), [recent, old], 'on return the timeline is rebuilt from Postgres');
});

test.serial(
  'a malformed event goes to DLQ with its reason and the next event is still handled',
  async (t) => {
    const a = await h.user();
    const b = await h.user();
    await h.follow(a, b);
    await h.settled();
    h.feed.infra.nc.publish(natsSubjectFor('post.published', ns.nats.prefix), '{"specversion":"1.0", oops');
    h.feed.infra.nc.publish(
      natsSubjectFor('follow.created', ns.nats.prefix),
      JSON.stringify({
        specversion: '1.0',
        id: 'bad-follow',
        source: '/by/hand',
        type: 'follow.created',
        time: new Date().toISOString(),
        data: { followerId: 12, followeeId: b.id, state: 'following' },
      }),
    );
    const next = await h.post(b);
    // A valid event injected by hand (`nats pub`: a core publish, no headers) is handled like any other.
    const byHand = h.id(shardOf(b.id));
    h.feed.infra.nc.publish(
      natsSubjectFor('post.published', ns.nats.prefix),
      JSON.stringify(
        createEvent('post.published', postData(byHand, byHand, b.id, 'by hand'), { source: '/by/hand' }),
      ),
    );
    await h.until('the hand-injected post is handled', async () => (await h.feedIds(a)).includes(byHand));
    await h.settled();
    t.deepEqual(await h.feedIds(a), [byHand, next], 'the consumer went on with the next events');
    const dlq = streamNameFor('DLQ', ns.nats.prefix);
    const bad = parseDeadLetter(
      (
        await h.feed.infra.jsm.streams.getMessage(dlq, {
          last_by_subj: dlqSubjectFor('post.published', ns.nats.prefix),
        })
      ).data,
    );
    t.like(bad, { consumer: 'feed-fanout', error: { code: 'BAD_JSON' } });
    const invalid = parseDeadLetter(
      (
        await h.feed.infra.jsm.streams.getMessage(dlq, {
          last_by_subj: dlqSubjectFor('follow.created', ns.nats.prefix),
        })
      ).data,
    );
    t.like(invalid, { consumer: 'feed-projector', error: { code: 'SCHEMA_VIOLATION' } });
    t.regex(invalid.error.message, /followerId/, 'the reason names the bad field');
  },
);

test.serial(
  'a client that accepts gzip gets the same page gzipped, and the new page once a like changes it',
  async (t) => {
    const a = await h.user();
    const b = await h.user();
    await h.follow(a, b);
    await h.settled();
    // a page of a few posts (a single one is under the 1 KB worth compressing)
    await h.post(b);
    await h.post(b);
    const postId = await h.post(b);
    await h.until('posts reach A', async () => (await h.feedIds(a)).length === 3);
    const read = async (acceptEncoding?: string) => {
      const res = await h.feed.app.inject({
        method: 'GET',
        url: '/v1/feed',
        headers: {
          authorization: `Bearer ${a.token}`,
          ...(acceptEncoding ? { 'accept-encoding': acceptEncoding } : {}),
        },
      });
      t.is(res.statusCode, 200);
      return res;
    };
    const plain = await read();
    const zipped = await read('gzip');
    t.is(plain.headers['content-encoding'], undefined);
    t.is(zipped.headers['content-encoding'], 'gzip');
    t.deepEqual(gunzipSync(zipped.rawPayload), plain.rawPayload, 'byte for byte the same page');

    await h.publish('like.created', { postId, postAuthorId: b.id, userId: a.id });
    await h.settled();
    const after = JSON.parse(gunzipSync((await read('gzip')).rawPayload).toString()) as FeedBody;
    t.like(
      after.items[0],
      { id: postId, likeCount: 1, viewerHasLiked: true },
      'not the gzip of the old page',
    );
  },
);

test.serial(
  'likes, comments and display-name changes show in the feed; viewerHasLiked is per viewer',
  async (t) => {
    const a = await h.user();
    const b = await h.user();
    const c = await h.user();
    await h.follow(a, b);
    await h.follow(c, b);
    await h.settled();
    const postId = await h.post(b);
    await h.until('post reaches A', async () => (await h.feedIds(a)).includes(postId));
    await h.feedOf(a); // warm the caches, so the updates below must reach them
    await h.publish('like.created', { postId, postAuthorId: b.id, userId: a.id });
    await h.publish('like.created', { postId, postAuthorId: b.id, userId: c.id });
    const comment = {
      commentId: h.id(3),
      postId,
      postAuthorId: b.id,
      userId: c.id,
      text: 'nice',
      mentions: [],
    };
    await h.publish('comment.created', comment);
    await h.publish('comment.created', comment); // the same comment again under a new event id: counted once
    await h.publish('account.updated', { userId: b.id, displayName: 'Bee' });
    await h.settled();
    const [forA] = (await h.feedOf(a)).items;
    t.like(forA, {
      id: postId,
      likeCount: 2,
      commentCount: 1,
      viewerHasLiked: true,
      author: { displayName: 'Bee' },
    });
    await h.publish('like.deleted', { postId, postAuthorId: b.id, userId: c.id });
    await h.settled();
    const [forC] = (await h.feedOf(c)).items;
    t.like(forC, { id: postId, likeCount: 1, commentCount: 1, viewerHasLiked: false });
  },
);

test.serial(
  'a page read again is the same until something on it changes: every change shows at the next read',
  async (t) => {
    // FeedReader keeps each viewer's last page while the page script answers the same: these reads all use
    // the same query, so each one after a change would be served from that memo if it missed the change.
    const a = await h.user();
    const b = await h.user();
    const c = await h.user();
    await h.follow(a, b);
    await h.settled();
    await h.feedOf(a);
    const first = await h.post(b, 'first');
    await h.until('the post reaches A', async () => (await h.feedOf(a)).items.length === 1);
    const before = await h.feedOf(a);
    t.deepEqual(await h.feedOf(a), before, 'nothing changed: the same page');
    const read = async () => (await h.feedOf(a)).items;
    const after = async (what: string, change: () => Promise<unknown>) => {
      await read(); // the memo holds the page as it was just before the change
      await sleep(100); // and Redis tracks its versions (asked in the background): the next read asks nothing
      await read();
      await change();
      await h.settled();
      return { what, items: await read() };
    };

    let r = await after('another viewer likes', () =>
      h.publish('like.created', { postId: first, postAuthorId: b.id, userId: c.id }),
    );
    t.like(r.items[0], { likeCount: 1, viewerHasLiked: false }, r.what);
    r = await after('the viewer likes', () =>
      h.publish('like.created', { postId: first, postAuthorId: b.id, userId: a.id }),
    );
    t.like(r.items[0], { likeCount: 2, viewerHasLiked: true }, r.what);
    r = await after('a comment', () =>
      h.publish('comment.created', {
        commentId: h.id(5),
        postId: first,
        postAuthorId: b.id,
        userId: c.id,
        text: 'nice',
        mentions: [],
      }),
    );
    t.like(r.items[0], { commentCount: 1 }, r.what);
    // Through the script's JSON answer unchanged: quotes, slashes, backslashes, emoji.
    const name = 'Bee "/\\ 🐝 </b>';
    r = await after('the author is renamed', () =>
      h.publish('account.updated', { userId: b.id, displayName: name }),
    );
    t.like(r.items[0], { author: { displayName: name } }, r.what);
    let second = '';
    r = await after('a new post', async () => {
      second = await h.post(b, 'second');
    });
    t.deepEqual(
      r.items.map((i) => i.id),
      [second, first],
      r.what,
    );
    t.deepEqual(
      (await h.feedOf(a, '?limit=1')).items.map((i) => i.id),
      [second],
      'another limit is another page',
    );
    t.is((await read()).length, 2, 'and back');
    r = await after('the post is deleted', () =>
      h.publish('post.deleted', { postId: first, authorId: b.id }),
    );
    t.deepEqual(
      r.items.map((i) => i.id),
      [second],
      r.what,
    );
    r = await after('the viewer unfollows the author', () =>
      h.publish('follow.deleted', { followerId: a.id, followeeId: b.id }),
    );
    t.deepEqual(r.items, [], r.what);
    r = await after('the viewer follows again', () => h.follow(a, b));
    t.deepEqual(
      r.items.map((i) => i.id),
      [second],
      r.what,
    );
  },
);

test.serial(
  'a page of several posts per author: each with its own author, counts and like (likes from Postgres, then cached)',
  async (t) => {
    const a = await h.user();
    const b = await h.user();
    const c = await h.user();
    await h.follow(a, b);
    await h.follow(a, c);
    await h.settled();
    await h.feedOf(a);
    const posts: { id: string; author: typeof b }[] = [];
    for (const author of [b, c, b, b, c]) posts.push({ id: await h.post(author, `by ${author.id}`), author });
    const liked = new Set([posts[0]?.id, posts[3]?.id, posts[4]?.id]);
    for (const p of posts) {
      if (liked.has(p.id))
        await h.publish('like.created', { postId: p.id, postAuthorId: p.author.id, userId: a.id });
    }
    await h.publish('account.updated', { userId: b.id, displayName: 'Bee' });
    await h.publish('account.updated', { userId: c.id, displayName: 'Cee' });
    await h.settled();
    const expected = posts
      .map((p) => ({
        id: p.id,
        caption: `by ${p.author.id}`,
        author: { id: p.author.id, displayName: p.author === b ? 'Bee' : 'Cee' },
        likeCount: liked.has(p.id) ? 1 : 0,
        viewerHasLiked: liked.has(p.id),
      }))
      // Newest first is id order (ids minted on two shards in one millisecond need not follow publish order).
      .sort((x, y) => (BigInt(y.id) > BigInt(x.id) ? 1 : -1));
    // The first read finds A's liked set incomplete (likes landed on a set never loaded) and reads the
    // likes from Postgres; the next reads are served from the caches alone.
    for (let read = 0; read < 3; read++) {
      const { items } = await h.feedOf(a);
      t.is(items.length, 5);
      items.forEach((item, i) => {
        t.like(item, expected[i] as object, `read ${read}, item ${i}`);
      });
    }
  },
);

test.serial(
  'a requested follow of a private account shows nothing until approved, then backfills',
  async (t) => {
    const b = await h.user(true);
    const c = await h.user();
    const older = await h.post(b, 'before the request');
    await h.follow(c, b, 'requested');
    const newer = await h.post(b, 'while pending');
    await h.settled();
    t.deepEqual(await h.feedIds(c), [], 'a pending request shows none of the private account’s posts');
    await h.publish('follow.approved', { followerId: c.id, followeeId: b.id });
    await h.settled();
    t.deepEqual(await h.feedIds(c), [newer, older], 'approval backfills the recent posts');
  },
);

test.serial(
  'unfollow removes the followee’s posts; post.deleted removes a post from every feed',
  async (t) => {
    const a = await h.user();
    const b = await h.user();
    const c = await h.user();
    await h.follow(a, b);
    await h.follow(c, b);
    await h.settled();
    const kept = await h.post(b);
    const doomed = await h.post(b);
    await h.settled();
    t.deepEqual(await h.feedIds(a), [doomed, kept]);
    await h.publish('post.deleted', { postId: doomed, authorId: b.id });
    await h.settled();
    t.deepEqual(await h.feedIds(a), [kept], 'gone from a follower’s feed');
    t.deepEqual(await h.feedIds(c), [kept], 'gone from another follower’s feed');
    t.deepEqual(await h.feedIds(b), [kept], 'gone from the author’s own feed');
    await h.publish('follow.deleted', { followerId: a.id, followeeId: b.id });
    await h.settled();
    t.deepEqual(await h.feedIds(a), [], 'unfollow: none of B’s posts');
    t.deepEqual(await h.feedIds(c), [kept], 'other followers keep them');
  },
);

test.serial('the same post.published delivered twice gives one entry', async (t) => {
  const a = await h.user();
  const b = await h.user();
  await h.follow(a, b);
  await h.settled();
  const postId = h.id(2);
  const data = postData(postId, h.id(2), b.id, 'twice');
  const event = await h.publish('post.published', data);
  // The same event again (a relay republishing after a crash) and the same post under a new event id.
  await h.publish('post.published', data, event.time, event.id);
  await h.publish('post.published', data);
  await h.settled();
  t.deepEqual(await h.feedIds(a), [postId]);
  t.deepEqual(await h.feedIds(b), [postId]);
});

test.serial(
  'reordered events converge: the newest event by time wins, whatever the arrival order',
  async (t) => {
    const a = await h.user();
    const b = await h.user();
    const early = h.nextTime();
    const late = h.nextTime();
    // The unfollow (later) arrives before the follow (earlier): A must end up not following B.
    await h.publish('follow.deleted', { followerId: a.id, followeeId: b.id }, late);
    await h.publish('follow.created', { followerId: a.id, followeeId: b.id, state: 'following' }, early);
    // post.deleted overtakes its post.published: the tombstone wins.
    const ghost = h.id(7);
    await h.publish('post.deleted', { postId: ghost, authorId: b.id });
    await h.publish('post.published', postData(ghost, h.id(7), b.id, 'ghost'));
    await h.settled();
    const visible = await h.post(b);
    await h.settled();
    t.deepEqual(await h.feedIds(a), [], 'A does not follow B: the follow was older than the unfollow');
    t.deepEqual(await h.feedIds(b), [visible], 'the deleted post never shows, even to its author');

    // An unlike that is newer than the like arrives first: not liked, count 0.
    await h.publish('like.deleted', { postId: visible, postAuthorId: b.id, userId: b.id }, late);
    await h.publish('like.created', { postId: visible, postAuthorId: b.id, userId: b.id }, early);
    await h.settled();
    t.like((await h.feedOf(b)).items[0], { id: visible, likeCount: 0, viewerHasLiked: false });
  },
);

test.serial('follow edges are ordered by their version, not by clocks that disagree', async (t) => {
  const a = await h.user();
  const b = await h.user();
  const posted = await h.post(b);
  await h.settled();
  // Two metadata replicas with skewed clocks: the unfollow (version 2) is stamped earlier than the follow
  // (version 1) it undid. By time the follow would win; by version the unfollow does.
  const early = h.nextTime();
  const late = h.nextTime();
  await h.publish(
    'follow.created',
    { followerId: a.id, followeeId: b.id, state: 'following', version: 1 },
    late,
  );
  await h.settled();
  t.deepEqual(await h.feedIds(a), [posted], "following: B's post is in A's feed");
  await h.publish('follow.deleted', { followerId: a.id, followeeId: b.id, version: 2 }, early);
  await h.settled();
  t.deepEqual(await h.feedIds(a), [], 'the unfollow (version 2) wins over the later-stamped follow');
  // A replay of the follow (version 1, any time) changes nothing.
  await h.publish(
    'follow.created',
    { followerId: a.id, followeeId: b.id, state: 'following', version: 1 },
    h.nextTime(),
  );
  await h.settled();
  t.deepEqual(await h.feedIds(a), []);
});

test.serial(
  'paging through 250 posts while 50 new ones arrive yields each of the 250 exactly once',
  async (t) => {
    const reader = await h.user();
    const authors = [await h.user(), await h.user(), await h.user()];
    for (const author of authors) await h.follow(reader, author);
    await h.settled();
    const before: string[] = [];
    for (let i = 0; i < 250; i++) before.push(await h.post(authors[i % 3] as (typeof authors)[number]));
    await h.settled(60_000);

    const seen: string[] = [];
    let cursor: string | null = null;
    let page = 0;
    do {
      const query: string = `?limit=25${cursor ? `&cursor=${cursor}` : ''}`;
      const body = await h.feedOf(reader, query);
      seen.push(...body.items.map((i) => i.id));
      cursor = body.nextCursor;
      // New posts arrive between pages.
      if (page++ < 10) for (let i = 0; i < 5; i++) await h.post(authors[i % 3] as (typeof authors)[number]);
    } while (cursor);
    const fromBefore = seen.filter((id) => before.includes(id));
    t.is(new Set(seen).size, seen.length, 'no item twice');
    const newestFirst = [...before].sort((x, y) => (BigInt(y) > BigInt(x) ? 1 : -1));
    t.deepEqual(fromBefore, newestFirst, 'every one of the 250, newest first (by id), none skipped');
  },
);

test.serial('events on one row with the same time are ordered by their stream sequence', async (t) => {
  const a = await h.user();
  const b = await h.user();
  const c = await h.user();
  const same = h.nextTime();
  // Follow then unfollow in the same millisecond: the later one in the stream wins.
  await h.publish('follow.created', { followerId: a.id, followeeId: b.id, state: 'following' }, same);
  await h.publish('follow.deleted', { followerId: a.id, followeeId: b.id }, same);
  // And the other way round.
  await h.publish('follow.deleted', { followerId: c.id, followeeId: b.id }, same);
  await h.publish('follow.created', { followerId: c.id, followeeId: b.id, state: 'following' }, same);
  await h.settled();
  const postId = await h.post(b);
  await h.settled();
  t.deepEqual(await h.feedIds(a), [], 'followed then unfollowed');
  t.deepEqual(await h.feedIds(c), [postId], 'unfollowed then followed');
});

test.serial('bad input: 401 without a token, 400 naming limit or cursor', async (t) => {
  const a = await h.user();
  const anonymous = await h.feed.app.inject({ method: 'GET', url: '/v1/feed' });
  t.is(anonymous.statusCode, 401);
  for (const [query, field] of [
    ['?limit=0', 'limit'],
    ['?limit=101', 'limit'],
    ['?limit=ten', 'limit'],
    ['?cursor=abc', 'cursor'],
  ] as const) {
    const res = await h.feed.app.inject({
      method: 'GET',
      url: `/v1/feed${query}`,
      headers: { authorization: `Bearer ${a.token}` },
    });
    t.is(res.statusCode, 400, query);
    t.is(res.json<{ field: string }>().field, field, query);
  }
});
