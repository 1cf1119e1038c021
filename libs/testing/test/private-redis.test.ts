import test from 'ava';
import { Redis } from 'ioredis';
import { startPrivateRedis } from '../src/index.ts';

test('a private Redis goes away for a while and comes back empty on the same port', async (t) => {
  const server = await startPrivateRedis();
  t.teardown(() => server.stop());
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  t.teardown(() => redis.disconnect());
  // The refused reconnects while it is down are expected.
  redis.on('error', () => {});
  await redis.set('k', 'v');
  t.is(await redis.get('k'), 'v');

  const restarted = server.restart({ downMs: 500 });
  // While it is down, commands fail instead of hanging.
  await t.throwsAsync(async () => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    await redis.get('k');
  });
  await restarted;

  await redis.set('after', '1');
  t.is(await redis.get('after'), '1');
  t.is(await redis.get('k'), null, 'nothing persisted');
});
