import { chassisSpec } from '@instantpost/chassis';
import { ConfigError, loadConfig } from '@instantpost/config';
import test from 'ava';
import { configSpec } from '../src/config.ts';

const spec = { ...chassisSpec('feed'), ...configSpec };
const KEY = '0123456789abcdef0123456789abcdef';

test('defaults: an 800-post cap, big accounts above 10,000 followers, 30 days to inactivity', (t) => {
  const config = loadConfig(spec, { MEDIA_URL_SIGNING_KEY: KEY });
  t.like(config, {
    timelineCap: 800,
    bigAccountFollowers: 10_000,
    inactiveAfterSeconds: 2_592_000,
    fanoutBatch: 1000,
    consumerConcurrency: 4,
    ackWaitMs: 30_000,
    mediaBaseUrl: 'http://localhost:8080/media',
    mediaUrlSigningKey: KEY,
    mediaUrlTtlSeconds: 86_400,
    mediaUrlBucketSeconds: 3600,
  });
});

test('the rendition URL signing key is required', (t) => {
  const err = t.throws(() => loadConfig(spec, {}), { instanceOf: ConfigError });
  t.regex(err?.message ?? '', /MEDIA_URL_SIGNING_KEY: is required/);
});

test('every bad variable is named in one error', (t) => {
  const err = t.throws(
    () =>
      loadConfig(spec, {
        FEED_TIMELINE_CAP: '5',
        FEED_BIG_ACCOUNT_FOLLOWERS: 'many',
        MEDIA_BASE_URL: 'ftp://x',
        MEDIA_URL_SIGNING_KEY: 'short',
      }),
    { instanceOf: ConfigError },
  );
  for (const name of [
    'FEED_TIMELINE_CAP',
    'FEED_BIG_ACCOUNT_FOLLOWERS',
    'MEDIA_BASE_URL',
    'MEDIA_URL_SIGNING_KEY',
  ]) {
    t.true(err?.message.includes(name), name);
  }
  t.false(err?.message.includes('short'), 'the key is never echoed');
});
