import { chassisSpec } from '@instantpost/chassis';
import { ConfigError, loadConfig } from '@instantpost/config';
import test from 'ava';
import { configSpec } from '../src/config.ts';

const spec = { ...chassisSpec('notification'), ...configSpec };

test('defaults: 1 h like window, 15 s heartbeats, consumer on', (t) => {
  const config = loadConfig(spec, {});
  t.is(config.likeGroupWindowMs, 3_600_000);
  t.is(config.heartbeatMs, 15_000);
  t.true(config.consumeEvents);
});

test('every bad variable is named in one error', (t) => {
  const error = t.throws(
    () =>
      loadConfig(spec, {
        NOTIFICATION_LIKE_GROUP_WINDOW_MS: 'soon',
        NOTIFICATION_SSE_HEARTBEAT_MS: '5',
        NOTIFICATION_CONSUME_EVENTS: 'maybe',
      }),
    { instanceOf: ConfigError },
  );
  t.deepEqual(error?.problems.map((p) => p.variable).sort(), [
    'NOTIFICATION_CONSUME_EVENTS',
    'NOTIFICATION_LIKE_GROUP_WINDOW_MS',
    'NOTIFICATION_SSE_HEARTBEAT_MS',
  ]);
});
