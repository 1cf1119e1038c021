import { createLogger } from '@instantpost/telemetry';
import test from 'ava';
import { CACHED_PAGE_SIZE, createReader } from '../src/domain/reader.ts';
import { createUnreadCounts } from '../src/domain/unread.ts';
import { notificationStore } from '../src/store/notifications.ts';
import { pageCache } from '../src/store/pages.ts';
import { unreadCache } from '../src/store/unread.ts';
import { userStore } from '../src/store/users.ts';
import { type NotificationService, openWorld, userId, type World } from './helpers.ts';

// A user's first page is cached in Redis until a change drops it (or its TTL ends). When a hot page expires (or a change drops it), every
// request for it misses at the same moment: they share one Postgres load instead of each running their
// own (measured: one such herd at 50 connections held GET /v1/notifications' p99 at 0.3-0.8 s). The reader
// below is the service's, on the service's real stores, with their list reads counted.
let world: World;
let svc: NotificationService;

test.before(async () => {
  world = await openWorld();
  svc = await world.start();
});
test.after.always(async () => {
  await world?.close();
});

test('requests that miss a first page together load it from Postgres once, and all get it', async (t) => {
  const { shards, redis } = svc.infra;
  const stored = notificationStore(shards);
  let loads = 0;
  const notifications: typeof stored = {
    ...stored,
    listNotifications: (...args) => {
      loads += 1;
      return stored.listNotifications(...args);
    },
  };
  const pages = pageCache(redis, 30);
  const unread = createUnreadCounts({
    notifications,
    cache: unreadCache(redis, 60),
    pages,
    logger: createLogger({ service: 'test', level: 'silent' }),
  });
  const reader = createReader({ notifications, users: userStore(shards), unread, pages });
  const user = userId(3);
  const readAtOnce = (n: number) =>
    Promise.all(
      Array.from({ length: n }, () => reader.listJson(user, undefined, CACHED_PAGE_SIZE, (v) => v)),
    );

  const first = await readAtOnce(20);
  t.is(loads, 1, 'twenty misses, one load');
  t.deepEqual(JSON.parse(first[0]?.toString() ?? ''), { items: [], nextCursor: null, unreadCount: 0 });
  t.true(
    first.every((body) => body.equals(first[0] as Buffer)),
    'every request the same page',
  );

  const again = await readAtOnce(20);
  t.is(loads, 1, 'then cached');
  t.true(
    again.every((body) => body === again[0]),
    'one kept reply for all (its gzip made once), though Redis hands out a new Buffer each read',
  );

  await pages.drop(user); // a change to the list (or the TTL) ends the cached page
  await readAtOnce(20);
  t.is(loads, 2, 'the next herd loads once more');

  await pages.drop(user);
  await reader.listJson(user, undefined, CACHED_PAGE_SIZE, (v) => v);
  await reader.listJson(user, undefined, CACHED_PAGE_SIZE, (v) => v);
  t.is(
    loads,
    4,
    'reads one after the other do not share: each misses on its own (the tombstone refuses fills)',
  );
});

test('first pages filled at the same moment expire spread over the last third of their lifetime', async (t) => {
  const pages = pageCache(svc.infra.redis, 30);
  const users = Array.from({ length: 20 }, () => userId(5));
  await Promise.all(users.map((user) => pages.fill(user, '{"items":[],"nextCursor":null')));
  const ttls = await Promise.all(users.map((user) => svc.infra.redis.pttl(`page:${user}`)));
  t.true(
    ttls.every((ms) => ms > 19_000 && ms <= 30_000),
    `between 20 and 30 s: ${ttls.join(', ')}`,
  );
  t.true(new Set(ttls.map((ms) => Math.round(ms / 1000))).size > 3, 'not all at once');
});

test('a page whose actor is renamed while it is being loaded is not cached with the old name', async (t) => {
  const pages = pageCache(svc.infra.redis, 600);
  const [recipient, actor, other] = [userId(6), userId(7), userId(8)];
  const json = '{"items":[],"nextCursor":null';
  // A reader records the actors of the page it is loading, then reads their names; a rename commits and
  // its event drops the pages of everyone recorded; the reader's fill (with the old name) comes last.
  await pages.showing(recipient, [actor, other]);
  await pages.namesChanged(actor);
  await pages.fill(recipient, json);
  t.is((await pages.get(recipient)).page, undefined, 'the fill is refused');

  // Once the tombstone is gone the next load caches again; a rename after the fill drops the page.
  await svc.infra.redis.del(`page:${recipient}`);
  await pages.showing(recipient, [actor]);
  await pages.fill(recipient, json);
  t.is((await pages.get(recipient)).page?.toString(), json);
  await pages.namesChanged(userId(9));
  t.is((await pages.get(recipient)).page?.toString(), json, 'an actor the page does not show: kept');
  await pages.namesChanged(actor);
  t.is((await pages.get(recipient)).page, undefined, 'dropped');
});
