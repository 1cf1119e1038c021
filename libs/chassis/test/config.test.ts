/**
 * The chassis variables that size the Postgres pools and carry the NATS credentials reach the clients.
 */
import { ConfigError, loadConfig } from '@instantpost/config';
import { createShards, databasesOf } from '@instantpost/shards';
import test from 'ava';
import {
  chassisSpec,
  natsConnectOptions,
  PG_POOL_DEFAULTS,
  SERVICE_PORTS,
  shardPoolOptions,
} from '../src/config.ts';

test('PG_POOL_MAX, PG_IDLE_TIMEOUT and PG_PREPARE reach postgres.js', async (t) => {
  const config = loadConfig(chassisSpec('feed'), {
    PG_POOL_MAX: '5',
    PG_IDLE_TIMEOUT: '3',
    PG_PREPARE: 'false',
  });
  const shards = createShards({ service: 'feed', map: config.shardMap, ...shardPoolOptions(config) });
  try {
    t.is(shards.databases.length, 2);
    for (const db of shards.databases) {
      t.is(db.sql.options.max, 5);
      t.is(db.sql.options.idle_timeout, 3);
      t.false(db.sql.options.prepare);
    }
  } finally {
    await shards.close();
  }
});

test('the default pools of the five services fit the local budget of 40 connections', (t) => {
  const perDatabase = Object.keys(SERVICE_PORTS).reduce(
    (sum, service) => sum + loadConfig(chassisSpec(service as keyof typeof SERVICE_PORTS), {}).pgPoolMax,
    0,
  );
  t.is(
    perDatabase,
    Object.values(PG_POOL_DEFAULTS).reduce((a, b) => a + b, 0),
  );
  const physical = databasesOf(loadConfig(chassisSpec('feed'), {}).shardMap).length;
  t.is(physical, 2);
  // One LISTEN connection per database for each service with an outbox relay (upload, metadata, notification).
  t.true(perDatabase * physical + 3 * physical <= 40, `${perDatabase} per database`);
  t.true(loadConfig(chassisSpec('metadata'), {}).pgPrepare);
});

test('NATS_USER and NATS_PASSWORD go to connect(), and one without the other is refused', (t) => {
  const open = loadConfig(chassisSpec('upload'), {});
  t.deepEqual(natsConnectOptions(open, 'upload'), {
    servers: ['nats://127.0.0.1:4222'],
    name: 'upload',
    noAsyncTraces: true,
  });
  const withUser = loadConfig(chassisSpec('upload'), { NATS_USER: 'upload', NATS_PASSWORD: 's3cret' });
  t.like(natsConnectOptions(withUser, 'upload'), { user: 'upload', pass: 's3cret' });
  const error = t.throws(() => loadConfig(chassisSpec('upload'), { NATS_USER: 'upload', PG_POOL_MAX: '0' }), {
    instanceOf: ConfigError,
  });
  t.deepEqual(error?.problems.map((p) => p.variable).sort(), ['NATS_PASSWORD', 'PG_POOL_MAX']);
});

test('SENTRY_DSN is optional and must be an http(s) URL; SENTRY_RELEASE and SENTRY_ENVIRONMENT come along', (t) => {
  const off = loadConfig(chassisSpec('feed'), {});
  t.is(off.sentryDsn, undefined);
  const on = loadConfig(chassisSpec('feed'), {
    SENTRY_DSN: 'https://public@sentry.example/7',
    SENTRY_RELEASE: 'feed@2026.11.29',
    SENTRY_ENVIRONMENT: 'production',
  });
  t.like(on, {
    sentryDsn: 'https://public@sentry.example/7',
    sentryRelease: 'feed@2026.11.29',
    sentryEnvironment: 'production',
  });
  for (const bad of ['not a url', 'ftp://public@sentry.example/7']) {
    const error = t.throws(() => loadConfig(chassisSpec('feed'), { SENTRY_DSN: bad }), {
      instanceOf: ConfigError,
    });
    t.deepEqual(
      error?.problems.map((p) => p.variable),
      ['SENTRY_DSN'],
    );
  }
});
