import { createLogger } from '@instantpost/telemetry';
import { openNamespace, stopTestInfra, type TestNamespace, waitFor } from '@instantpost/testing';
import test from 'ava';
import { Redis } from 'ioredis';
import { openRedisTracking, type RedisTracking } from '../src/redis-tracking.ts';

// A page memo (feed) or a kept grid page (metadata) is reused with no round trip while Redis tracks the
// values it was built from: these tests write those values from another client, as another replica's
// handler would, and cut the tracker's connections, and check that nothing kept outlives a change it could
// have missed.
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

/** Version keys read as feed's page memo reads them: one MGET. */
const mgetOf =
  (keys: readonly string[], counter = { fetched: 0 }) =>
  async (client: Redis) => {
    counter.fetched += 1;
    return client.mget(...keys);
  };

test.serial(
  'values read through are held until one of their keys is written by anyone, and only then',
  async (t) => {
    await writer.mset('a:v', '1', 'b:v', '1', 'other:v', '1');
    t.true(tracker.tracking);
    const keys = ['a:v', 'b:v', 'missing:v'];
    const reads = keys.map((key) => ({ key }));
    t.is(tracker.held(reads), undefined, 'nothing read yet');
    t.deepEqual(await tracker.readThrough(reads, mgetOf(keys), writer), ['1', '1', null]);
    t.deepEqual(tracker.held(reads), ['1', '1', null], 'held, a missing key included');
    const hold = tracker.hold(reads);
    t.deepEqual(hold?.values, ['1', '1', null]);
    t.true(hold?.valid);
    t.truthy(tracker.hold(reads, ['1', '1', null]), 'held with the values expected');
    t.is(tracker.hold(reads, ['1', '2', null]), undefined, 'not with other values');
    await writer.set('other:v', '2');
    await settle();
    t.deepEqual(tracker.held(reads), ['1', '1', null], 'a key it did not read');
    t.true(hold?.valid, 'a hold: a key it does not hold');
    await writer.set('b:v', '2');
    await waitFor('the invalidation', async () => tracker.held(reads) === undefined || undefined);
    t.false(hold?.valid, 'the hold ends with it');
    t.is(tracker.hold(reads), undefined, 'nothing to hold until read again');

    t.deepEqual(await tracker.readThrough(reads, mgetOf(keys), writer), ['1', '2', null], 'read again');
    await writer.set('missing:v', 'now');
    await waitFor(
      'a key that did not exist is written',
      async () => tracker.held(reads) === undefined || undefined,
    );
  },
);

test.serial('a value is not kept when its key was written while the read was under way', async (t) => {
  await writer.set('c:v', '1');
  const reads = [{ key: 'c:v' }];
  const counter = { fetched: 0 };
  const slowRead = async (client: Redis) => {
    const values = await mgetOf(['c:v'], counter)(client);
    // Another client writes right after the read: its invalidation arrives before the reply is handed on.
    await writer.set('c:v', '2');
    await settle();
    return values;
  };
  t.deepEqual(await tracker.readThrough(reads, slowRead, writer), ['1'], 'the value the read saw');
  t.is(tracker.held(reads), undefined, 'not kept: it was written meanwhile');
  t.deepEqual(await tracker.readThrough(reads, mgetOf(['c:v'], counter), writer), ['2']);
  t.is(counter.fetched, 2, 'the next read asked Redis');
  t.deepEqual(tracker.held(reads), ['2']);
});

test.serial(
  'a lost connection drops everything kept; tracking comes back and reads are kept again',
  async (t) => {
    await writer.set('d:v', '1');
    const reads = [{ key: 'd:v' }];
    await tracker.readThrough(reads, mgetOf(['d:v']), writer);
    t.deepEqual(tracker.held(reads), ['1']);
    const hold = tracker.hold(reads);
    t.true(hold?.valid);
    // Kill the tracker's connections as a Redis restart or a network cut would (named after the prefix).
    const clients = String(await writer.client('LIST'))
      .split('\n')
      .filter((line) => line.includes(` name=${ns.redis.prefix.replace(/[^A-Za-z0-9_.-]/g, '')}-`));
    t.is(clients.length, 2, 'its two connections');
    for (const line of clients) await writer.client('KILL', 'ID', line.split(' ')[0]?.slice(3) ?? '');
    await waitFor('the copies to go', async () => tracker.held(reads) === undefined || undefined);
    t.false(hold?.valid, 'holds end with tracking');
    // Invalidations sent while it was away are lost: a write now must still be seen after it is back.
    await writer.set('d:v', '2');
    await waitFor('tracking to be back', async () => tracker.tracking || undefined, { timeoutMs: 20_000 });
    t.deepEqual(await tracker.readThrough(reads, mgetOf(['d:v']), writer), ['2']);
    t.deepEqual(tracker.held(reads), ['2'], 'kept again');
    await writer.set('d:v', '3');
    await waitFor('the write to be seen', async () => tracker.held(reads) === undefined || undefined);
  },
);

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
