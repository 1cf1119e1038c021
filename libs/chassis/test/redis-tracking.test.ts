import { createLogger } from '@instantpost/telemetry';
import { openNamespace, stopTestInfra, type TestNamespace, waitFor } from '@instantpost/testing';
import test from 'ava';
import { Redis } from 'ioredis';
import { openRedisTracking, type RedisTracking } from '../src/redis-tracking.ts';

// A page memo (feed) is reused with no round trip while Redis tracks the versions it was built from: these
// tests write those versions from another client, as another replica's handler would, and cut the tracker's
// connections, and check that a watch never outlives a change it could have missed.
let ns: TestNamespace;
let writer: Redis;
let tracker: RedisTracking;

test.before(async () => {
  ns = await openNamespace();
  writer = new Redis(ns.redis.url, { keyPrefix: ns.redis.prefix });
  tracker = await openRedisTracking({
    url: ns.redis.url,
    keyPrefix: ns.redis.prefix,
    logger: createLogger({ service: 'test', level: 'silent' }),
  });
});
test.after.always(async () => {
  await tracker?.close();
  writer?.disconnect();
  await ns?.close();
  await stopTestInfra();
});

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

test.serial('a watch holds until one of its keys is written by anyone, and only then', async (t) => {
  await writer.mset('a:v', '1', 'b:v', '1', 'other:v', '1');
  t.true(tracker.tracking);
  const watch = await tracker.watch(['a:v', 'b:v', 'missing:v'], ['1', '1', null]);
  if (!watch) return t.fail('the keys hold the values read: watched');
  await writer.set('other:v', '2');
  await settle();
  t.true(watch.valid, 'a key it does not watch');
  await writer.set('b:v', '2');
  await waitFor('the invalidation', async () => !watch.valid || undefined);
  t.false(watch.valid);

  const again = await tracker.watch(['a:v', 'b:v', 'missing:v'], ['1', '2', null]);
  t.true(again?.valid, 'watched again with the new value');
  await writer.set('missing:v', 'now');
  await waitFor('a key that did not exist is written', async () => !again?.valid || undefined);
});

test.serial('a watch is refused when a key no longer holds what the caller read', async (t) => {
  await writer.set('c:v', '1');
  t.is(await tracker.watch(['c:v'], ['0']), undefined, 'written after the caller read it');
  t.is(await tracker.watch(['c:v', 'never:v'], ['1', 'x']), undefined, 'one of several');
  t.is(await tracker.watch([], []), undefined, 'nothing to watch');
});

test.serial('a lost connection ends every watch; tracking comes back and watches work again', async (t) => {
  await writer.set('d:v', '1');
  const before = await tracker.watch(['d:v'], ['1']);
  t.true(before?.valid);
  // Kill the tracker's connections as a Redis restart or a network cut would (named after the prefix).
  const clients = String(await writer.client('LIST'))
    .split('\n')
    .filter((line) => line.includes(` name=${ns.redis.prefix.replace(/[^A-Za-z0-9_.-]/g, '')}-`));
  t.is(clients.length, 2, 'its two connections');
  for (const line of clients) await writer.client('KILL', 'ID', line.split(' ')[0]?.slice(3) ?? '');
  await waitFor('the watches to end', async () => !before?.valid || undefined);
  // Invalidations sent while it was away are lost: a write now must still be seen by a new watch.
  await writer.set('d:v', '2');
  await waitFor('tracking to be back', async () => tracker.tracking || undefined, { timeoutMs: 20_000 });
  const after = await tracker.watch(['d:v'], ['2']);
  t.true(after?.valid);
  await writer.set('d:v', '3');
  await waitFor('the new watch to see a write', async () => !after?.valid || undefined);
});

test.serial('reads through the tracked connection are kept until their key is written', async (t) => {
  await writer.set('post:1', 'first');
  await writer.hset('lk:9', '1', '1', '2', '0');
  const reads = [{ key: 'post:1' }, { key: 'lk:9', field: '1' }, { key: 'lk:9', field: '3' }];
  let fetched = 0;
  const fetch = async (client: Redis) => {
    fetched += 1;
    const [post, a, b] = await Promise.all([
      client.get('post:1'),
      client.hget('lk:9', '1'),
      client.hget('lk:9', '3'),
    ]);
    return [post, a, b];
  };
  t.deepEqual(await tracker.readThrough(reads, fetch, writer), ['first', '1', null]);
  t.deepEqual(await tracker.readThrough(reads, fetch, writer), ['first', '1', null]);
  t.is(fetched, 1, 'the second read asked nothing');

  await writer.hset('lk:9', '3', '1'); // another field of the same hash: the whole key is read again
  await waitFor('the hash to be read again', async () => {
    const values = await tracker.readThrough(reads, fetch, writer);
    return values[2] === '1';
  });
  const before = fetched;
  await tracker.readThrough(reads, fetch, writer);
  t.is(fetched, before, 'kept again');

  await writer.set('post:1', ''); // a tombstone, as metadata's writers leave
  await waitFor(
    'the tombstone to be read',
    async () => (await tracker.readThrough(reads, fetch, writer))[0] === '',
  );
  await writer.del('post:1');
  await waitFor(
    'the deletion to be read',
    async () => (await tracker.readThrough(reads, fetch, writer))[0] === null,
  );
});
