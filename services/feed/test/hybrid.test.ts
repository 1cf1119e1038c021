import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { Harness, type User } from './helpers.ts';

// Accounts with more than 2 approved followers are "big" here: merged at read time, not fanned out.
let ns: TestNamespace;
let h: Harness;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  h = await Harness.open(ns, { FEED_BIG_ACCOUNT_FOLLOWERS: '2' });
});
test.after.always(async () => {
  await h?.close();
  await ns?.close();
  await stopTestInfra();
});

const timeline = async (u: User) =>
  (await h.feed.infra.redis.zrange(`tl:${u.id}`, 0, -1))
    .filter((m) => m !== '0')
    .map((m) => m.slice(0, m.indexOf(':')));
const ids = (list: string[]) => list.map((id) => BigInt(id));

test.serial(
  'a big account’s posts reach followers through the read-time merge, in order with fanned-out ones',
  async (t) => {
    const big = await h.user();
    const regular = await h.user();
    const [f1, f2, f3] = [await h.user(), await h.user(), await h.user()];
    for (const f of [f1, f2, f3]) await h.follow(f, big);
    await h.follow(f1, regular);
    await h.settled();
    await h.feedOf(f1); // f1 is active: its timeline exists, so fan-out writes to it

    const r1 = await h.post(regular, 'r1');
    const k1 = await h.post(big, 'k1');
    const r2 = await h.post(regular, 'r2');
    const k2 = await h.post(big, 'k2');
    await h.settled();

    t.deepEqual(await h.feedIds(f1), [k2, r2, k1, r1], 'merged newest first');
    t.deepEqual(ids(await timeline(f1)), ids([r1, r2]), 'only the regular author was fanned out to f1');
    t.deepEqual(await h.feedIds(f2), [k2, k1]);
    t.deepEqual(await h.feedIds(big), [k2, k1], 'the big author sees their own posts');

    const page1 = await h.feedOf(f1, '?limit=2');
    t.deepEqual(
      page1.items.map((i) => i.id),
      [k2, r2],
    );
    const page2 = await h.feedOf(f1, `?limit=2&cursor=${page1.nextCursor}`);
    t.deepEqual(
      page2.items.map((i) => i.id),
      [k1, r1],
      'the cursor pages through merged entries',
    );
    const page3 = await h.feedOf(f1, `?limit=2&cursor=${page2.nextCursor}`);
    t.deepEqual(page3, { items: [], nextCursor: null });

    // A new follower of the (still big) account sees its posts at once; a deleted one leaves every merge.
    const f4 = await h.user();
    await h.follow(f4, big);
    await h.settled();
    t.deepEqual(await h.feedIds(f4), [k2, k1]);
    await h.publish('post.deleted', { postId: k2, authorId: big.id });
    await h.settled();
    t.deepEqual(await h.feedIds(f1), [r2, k1, r1]);
    t.deepEqual(await h.feedIds(f4), [k1]);
  },
);

test.serial(
  'crossing the threshold switches followers between merge and fan-out without losing posts',
  async (t) => {
    const author = await h.user();
    const [f1, f2, f3] = [await h.user(), await h.user(), await h.user()];
    await h.follow(f1, author);
    await h.follow(f2, author);
    await h.settled();
    await h.feedOf(f1);
    const small = await h.post(author, 'while small');
    await h.settled();
    t.deepEqual(ids(await timeline(f1)), ids([small]), 'two followers: fanned out');

    await h.follow(f3, author); // third follower: above the threshold
    await h.settled();
    const large = await h.post(author, 'while big');
    await h.settled();
    t.deepEqual(ids(await timeline(f1)), ids([small]), 'three followers: not fanned out any more');
    t.deepEqual(await h.feedIds(f1), [large, small]);
    t.deepEqual(await h.feedIds(f3), [large, small]);

    await h.publish('follow.deleted', { followerId: f3.id, followeeId: author.id }); // back to two
    await h.settled();
    t.deepEqual(ids(await timeline(f1)), ids([small, large]), 'back below: the merged posts were backfilled');
    const after = await h.post(author, 'small again');
    await h.settled();
    t.deepEqual(await h.feedIds(f1), [after, large, small]);
    t.deepEqual(await h.feedIds(f2), [after, large, small]);
    t.deepEqual(await h.feedIds(f3), [], 'the unfollower sees none');
  },
);
