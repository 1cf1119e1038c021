import { ConfigError, loadConfig } from '@instantpost/config';
import test from 'ava';
import { configSpec } from '../src/config.ts';

test('defaults: 100 MP, 64 MiB, 5 deliveries from 1 s, 30 s ack_wait, one image per core', (t) => {
  const config = loadConfig(configSpec, {});
  t.is(config.mediaMaxPixels, 100_000_000);
  t.is(config.mediaMaxBytes, 64 * 1024 * 1024);
  t.is(config.mediaMaxDeliver, 5);
  t.is(config.mediaRetryInitialMs, 1000);
  t.is(config.mediaAckWaitMs, 30_000);
  t.true(config.mediaConcurrency >= 1);
});

test('every bad variable is named in one error', (t) => {
  const err = t.throws(
    () =>
      loadConfig(configSpec, { MEDIA_CONCURRENCY: '0', MEDIA_MAX_PIXELS: 'lots', MEDIA_ACK_WAIT_MS: '50' }),
    { instanceOf: ConfigError },
  );
  t.regex(err?.message ?? '', /MEDIA_CONCURRENCY/);
  t.regex(err?.message ?? '', /MEDIA_MAX_PIXELS/);
  t.regex(err?.message ?? '', /MEDIA_ACK_WAIT_MS/);
});
