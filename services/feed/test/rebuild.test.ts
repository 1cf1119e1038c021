import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { makeTestKeys, testEnvironment } from '@instantpost/chassis/testing';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { PROJECTION_TABLES } from '../src/store/projections.ts';
import { wipeRedis } from '../src/store/timelines.ts';
import { type FeedBody, Harness, type User } from './helpers.ts';

// Redis is never the only copy: wiping it, or the projections themselves, loses nothing.
let ns: TestNamespace;
let h: Harness;
let users: User[];

const run = promisify(execFile);
const ops = fileURLToPath(new URL('../src/ops.ts', import.meta.url));

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  h = await Harness.open(ns, { FEED_BIG_ACCOUNT_FOLLOWERS: '3' });
  // A small social graph: a big account (4 followers), regular ones, a private one, likes, comments,
  // an unfollow, a deleted post and a renamed user.
  users = [];
  for (let i = 0; i < 8; i++) users.push(await h.user(i === 7));
  const [big, r1, r2, a, b, c, d, priv] = users as [User, User, User, User, User, User, User, User];
  for (const f of [a, b, c, d]) await h.follow(f, big);
  await h.follow(a, r1);
  await h.follow(a, r2);
  await h.follow(b, r1);
  await h.follow(c, priv, 'requested');
  await h.follow(d, priv, 'requested');
  await h.publish('follow.approved', { followerId: d.id, followeeId: priv.id });
  await h.settled();
  for (const u of users) await h.feedOf(u);
  const posts: string[] = [];
  for (let i = 0; i < 12; i++) posts.push(await h.post([big, r1, r2, priv][i % 4] as User, `post ${i}`));
  const [p0, p1, p2] = posts as [string, string, string];
  await h.publish('like.created', { postId: p1, postAuthorId: r1.id, userId: a.id });
  await h.publish('like.created', { postId: p0, postAuthorId: big.id, userId: b.id });
  await h.publish('comment.created', {
    commentId: h.id(4),
    postId: p1,
    postAuthorId: r1.id,
    userId: b.id,
    text: 'hi',
    mentions: [],
  });
  await h.publish('post.deleted', { postId: p2, authorId: r2.id });
  await h.publish('follow.deleted', { followerId: b.id, followeeId: r1.id });
  await h.publish('account.updated', { userId: r1.id, displayName: 'Renamed' });
  await h.settled();
});
test.after.always(async () => {
  await h?.close();
  await ns?.close();
  await stopTestInfra();
});

/**
 * A feed page without its URL signatures: they hold a bucketed expiry, so two reads around the top of an
 * hour differ there while the feed is the same.
 */
const unsigned = (page: FeedBody): FeedBody => ({
  ...page,
  items: page.items.map((item) => ({
    ...item,
    media: {
      ...item.media,
      renditions: item.media.renditions.map((r) => ({ ...r, url: r.url.split('?', 1)[0] as string })),
    },
  })),
});
const feedPage = async (u: User) => unsigned(await h.feedOf(u, '?limit=100'));
const allFeeds = async () => Promise.all(users.map(feedPage));

async function dumpProjections(): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of PROJECTION_TABLES) {
    const rows = await h.feed.infra.shards.fanOut(async (s) => {
      const result = await s.sql.unsafe(`SELECT * FROM "${s.schema}"."${table}"`);
      return result.map((r) => JSON.stringify(r));
    });
    out[table] = rows.flat().sort();
  }
  return out;
}

test.serial(
  'wiping the feed’s Redis keys, then reading, gives the same feeds (rebuilt from Postgres)',
  async (t) => {
    const before = await allFeeds();
    t.true(
      before.some((f) => f.items.length > 3),
      'the scenario has non-trivial feeds',
    );
    t.true(
      before.some((f) => f.items.some((i) => i.viewerHasLiked && i.commentCount === 1)),
      'likes and comments are part of what is compared',
    );
    const deleted = await wipeRedis(h.feed.infra.redis, h.feed.config.redisPrefix);
    t.true(deleted > 10, `the wipe removed the timelines and caches (${deleted} keys)`);
    t.deepEqual(await allFeeds(), before);
  },
);

test.serial('the operator command rebuilds every timeline (and one user’s) from Postgres', async (t) => {
  const before = await allFeeds();
  await wipeRedis(h.feed.infra.redis, h.feed.config.redisPrefix);
  const env = { ...process.env, ...testEnvironment('feed', ns, makeTestKeys()) };
  const all = await run(process.execPath, ['--import', 'tsx', ops, 'rebuild', '--all'], { env });
  t.regex(all.stdout, /rebuilt 8 timelines/);
  for (const u of users) {
    t.is(await h.feed.infra.redis.exists(`tl:${u.id}`), 1, 'rebuilt before anyone reads');
  }
  t.deepEqual(await allFeeds(), before);

  const one = users[3] as User;
  await h.feed.infra.redis.zadd(`tl:${one.id}`, 0, `${'9'.repeat(19)}:1`); // a stray entry
  const single = await run(process.execPath, ['--import', 'tsx', ops, 'rebuild', '--user', one.id], { env });
  t.regex(single.stdout, /rebuilt the timeline of/);
  t.deepEqual(await feedPage(one), before[3], 'the rebuild replaced the timeline');

  const bad = await run(process.execPath, ['--import', 'tsx', ops, 'rebuild', '--user', 'x1'], { env }).catch(
    (err: { code: number; stderr: string }) => err,
  );
  t.like(bad, { code: 1 });
  t.regex((bad as { stderr: string }).stderr, /user id/, 'a bad id is refused with a message naming it');
});

test.serial('replaying SOCIAL from the start into empty projections reproduces them exactly', async (t) => {
  const projections = await dumpProjections();
  const feeds = await allFeeds();
  t.true((projections.posts?.length ?? 0) >= 12 && (projections.followers?.length ?? 0) >= 9);
  await h.close(); // feed stopped, as the operator does before a replay
  const env = { ...process.env, ...testEnvironment('feed', ns, h.keys) };
  const reset = await run(process.execPath, ['--import', 'tsx', ops, 'reset'], { env });
  t.regex(reset.stdout, /projections emptied/);
  h = await Harness.open(ns, { FEED_BIG_ACCOUNT_FOLLOWERS: '3' }, h.keys);
  await h.settled();
  t.deepEqual(await dumpProjections(), projections, 'every projection row, including event times, is back');
  t.deepEqual(await allFeeds(), feeds);
});
