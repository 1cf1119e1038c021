import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { Redis } from 'ioredis';
import { unreadCache } from '../src/store/unread.ts';

// A read that misses the cached unread count counts in Postgres and then fills the cache; a handler commits
// a new item and then drops the count. The two interleave freely across processes, in both orders below
// (the story test once saw one too many this way): whatever the order, what stays cached is what Postgres
// holds after both, or nothing (the next read recounts).
let ns: TestNamespace;
let redis: Redis;
let cache: ReturnType<typeof unreadCache>;

test.before(async () => {
  ns = await openNamespace();
  redis = new Redis(ns.redis.url, { keyPrefix: ns.redis.prefix });
  cache = unreadCache(redis, 60);
});
test.after.always(async () => {
  redis?.disconnect();
  await ns?.close();
  await stopTestInfra();
});

test('a count taken before a change committed is not cached after the change is announced', async (t) => {
  const seen = await cache.get('u1'); // the read misses and counts 4 in Postgres
  t.is(seen.count, undefined);
  await cache.drop(['u1']); // a fifth item commits; its handler drops the count
  await cache.fill('u1', 4, seen); // the read's fill arrives late
  t.is((await cache.get('u1')).count, undefined, 'the next read recounts instead of serving 4');
});

test('a count that already includes a change is not served once more with the change added', async (t) => {
  const seen = await cache.get('u2'); // the read misses, and counts after the commit: 5 with the new item
  await cache.fill('u2', 5, seen); // and fills before the handler is done
  t.is((await cache.get('u2')).count, 5);
  await cache.drop(['u2']); // the handler after its commit: no increment to 6
  const next = await cache.get('u2');
  t.is(next.count, undefined, 'dropped, not incremented');
  await cache.fill('u2', 5, next);
  t.is((await cache.get('u2')).count, 5, 'the recount is cached again');
});

test('a fill never replaces a count already cached, and drops of several users touch only them', async (t) => {
  const seen = await cache.get('u3');
  await cache.fill('u3', 2, seen);
  await cache.fill('u3', 9, seen);
  t.is((await cache.get('u3')).count, 2);
  const other = await cache.get('u4');
  await cache.fill('u4', 7, other);
  await cache.drop(['u3', 'u5']);
  t.is((await cache.get('u3')).count, undefined);
  t.is((await cache.get('u4')).count, 7, 'untouched');
});
