import { startTcpProxy, type TcpProxy } from '@instantpost/testing';
import test from 'ava';
import { Redis } from 'ioredis';
import { createUser, list, type NotificationService, openWorld, type World, waitFor } from './helpers.ts';

// Redis is only a cache of the unread counts: with it unreachable (a TCP proxy cut in between) events
// are still handled and lists still answer with the right count, and no stale count survives its return.
let world: World;
let svc: NotificationService;
let proxy: TcpProxy;

test.before(async () => {
  world = await openWorld();
  const redisUrl = new URL(world.ns.redis.url);
  proxy = await startTcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379));
  svc = await world.start({ REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
});

test.after.always(async () => {
  await proxy?.restore().catch(() => {});
  await world?.close();
  await proxy?.close();
});

test('with Redis cut off, counts come from Postgres; once it is back, no stale count is served', async (t) => {
  const me = await createUser(world, 'me1', 3);
  const a = await createUser(world, 'a1', 12);
  const b = await createUser(world, 'b1', 6);
  await world.publish('follow.created', { followerId: a.id, followeeId: me.id, state: 'following' });
  await world.settled();
  t.is((await list(svc, me)).unreadCount, 1, 'counted and cached');

  await proxy.cut();
  await world.publish('follow.created', { followerId: b.id, followeeId: me.id, state: 'following' });
  await world.settled();
  const during = await list(svc, me);
  t.is(during.items.length, 2, 'the event was handled without Redis');
  t.is(during.unreadCount, 2, 'counted in Postgres');

  await proxy.restore();
  t.is((await list(svc, me)).unreadCount, 2, 'the cached 1 that missed an increment is not used');
  // The stale key is deleted as soon as Redis answers, so other replicas recount too.
  const direct = new Redis(world.ns.redis.url);
  const key = `${svc.config.redisPrefix}unread:${me.id}`;
  await waitFor('the stale count to be dropped', async () => (await direct.get(key)) !== '1');
  await direct.quit();
  t.is((await list(svc, me)).unreadCount, 2);
});
