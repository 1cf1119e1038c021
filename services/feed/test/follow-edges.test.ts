import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { projectionStore } from '../src/store/projections.ts';
import { Harness } from './helpers.ts';

// The follow graph's projection (followers on the followee's shard with their count, following on the
// follower's) written as the events arrive: concurrently, duplicated and out of order.
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

const at = (ms: number) => new Date(1_800_000_000_000 + ms).toISOString();

test('concurrent, duplicated and reordered follow events leave each edge at its newest state and the count equal to the edges', async (t) => {
  const store = projectionStore(h.feed.infra.shards);
  const followee = h.id(3);
  const followers = Array.from({ length: 24 }, (_, i) => h.id(i % 16));
  // Every follower follows (version 1), the event comes twice; a third of them unfollow (version 2), and
  // half of those unfollows are handled before their follow. All at once, as concurrent batches would.
  const unfollowed = new Set(followers.filter((_, i) => i % 3 === 0));
  const writes = followers.flatMap((follower, i) => {
    const follow = () =>
      store.writeFollower(followee, follower, 'following', { edge: 1, at: at(i), seq: i + 1 });
    const unfollow = () =>
      store.writeFollower(followee, follower, 'none', { edge: 2, at: at(i + 100), seq: i + 100 });
    if (!unfollowed.has(follower)) return [follow(), follow()];
    return i % 2 === 0 ? [unfollow(), follow(), follow()] : [follow(), unfollow(), follow()];
  });
  const results = await Promise.all(writes);
  t.is(await store.followerCount(followee), followers.length - unfollowed.size);
  const approved = await store.approvedFollowers(followee, '0', 100);
  t.deepEqual(
    approved.sort(),
    followers.filter((f) => !unfollowed.has(f)).sort(),
    'the approved followers are exactly those whose newest event is a follow',
  );
  t.is(
    results.filter((r) => r.applied && r.after === 'following' && r.before !== 'following').length -
      results.filter((r) => r.applied && r.before === 'following' && r.after !== 'following').length,
    followers.length - unfollowed.size,
    'the changes each write reports add up to the count',
  );

  // The follower's side: its own row per edge, ordered the same way.
  const follower = followers[0] as string;
  await store.writeFollowing(follower, followee, 'none', { edge: 2, at: at(5), seq: 2 });
  const stale = await store.writeFollowing(follower, followee, 'following', { edge: 1, at: at(9), seq: 3 });
  t.like(stale, { applied: false, before: 'none', after: 'none' }, 'an older edge version is ignored');
  t.is(await store.followState(follower, followee), 'none');
  const again = await store.writeFollowing(follower, followee, 'following', { edge: 3, at: at(1), seq: 4 });
  t.like(again, { applied: true, before: 'none', after: 'following' });
  t.is(await store.followState(follower, followee), 'following');
});
