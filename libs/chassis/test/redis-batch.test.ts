import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { Redis } from 'ioredis';
import { execOrThrow } from '../src/redis-batch.ts';

// ioredis resolves a pipeline or MULTI whose commands failed with the errors inside the results: a write
// that must not be lost silently (an invalidation, a dropped page) goes through execOrThrow instead.
let ns: TestNamespace;
let redis: Redis;

test.before(async () => {
  ns = await openNamespace();
  redis = new Redis(ns.redis.url, { keyPrefix: ns.redis.prefix });
});
test.after.always(async () => {
  redis?.disconnect();
  await ns?.close();
  await stopTestInfra();
});

test('a pipeline or MULTI whose commands all succeed is sent; one failing command throws its own error', async (t) => {
  await execOrThrow(redis.pipeline().set('a', '1').set('b', '2'), 'not applied');
  await execOrThrow(redis.multi().set('c', '3'), 'not applied');
  t.deepEqual(await redis.mget('a', 'b', 'c'), ['1', '2', '3']);

  // INCR of a value that is not a number fails inside the batch; the command before it still ran.
  await redis.set('a-text', 'text');
  const error = await t.throwsAsync(
    execOrThrow(redis.pipeline().set('d', '4').incr('a-text'), 'not applied'),
    {
      instanceOf: Error,
    },
  );
  t.regex(error?.message ?? '', /not an integer/, "the failing command's own error");
  t.is(await redis.get('d'), '4');
});
