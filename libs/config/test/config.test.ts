import test from 'ava';
import {
  bool,
  ConfigError,
  custom,
  describeConfig,
  int,
  loadConfig,
  oneOf,
  optional,
  str,
  url,
} from '../src/index.ts';

const spec = {
  port: int('PORT', { default: 3000, min: 1, max: 65535, doc: 'HTTP port' }),
  natsUrl: url('NATS_URL', { protocols: ['nats'], doc: 'NATS servers' }),
  level: oneOf('LOG_LEVEL', ['debug', 'info', 'warn'] as const, { default: 'info', doc: 'log level' }),
  pretty: bool('LOG_PRETTY', { default: false, doc: 'pretty logs' }),
  otel: optional(url('OTEL_EXPORTER_OTLP_ENDPOINT', { doc: 'OTLP endpoint' })),
  name: str('SERVICE_NAME', { default: 'feed', pattern: /^[a-z-]+$/, doc: 'service name' }),
};

test('defaults fill unset variables and values are typed', (t) => {
  const config = loadConfig(spec, { NATS_URL: 'nats://127.0.0.1:4222' });
  t.deepEqual(config, {
    port: 3000,
    natsUrl: 'nats://127.0.0.1:4222',
    level: 'info',
    pretty: false,
    otel: undefined,
    name: 'feed',
  });
});

test('parsed values replace defaults', (t) => {
  const config = loadConfig(spec, {
    NATS_URL: 'nats://n:4222',
    PORT: '8081',
    LOG_PRETTY: 'yes',
    LOG_LEVEL: 'debug',
  });
  t.is(config.port, 8081);
  t.true(config.pretty);
  t.is(config.level, 'debug');
});

test('every bad or missing variable is named in one error', (t) => {
  const error = t.throws(() => loadConfig(spec, { PORT: '80a', LOG_LEVEL: 'loud', SERVICE_NAME: 'Feed!' }), {
    instanceOf: ConfigError,
  });
  t.deepEqual(
    error?.problems.map((p) => p.variable),
    ['PORT', 'NATS_URL', 'LOG_LEVEL', 'SERVICE_NAME'],
  );
  t.regex(error?.message ?? '', /PORT: must be a whole number, got "80a"/);
  t.regex(error?.message ?? '', /NATS_URL: is required but not set/);
  t.regex(error?.message ?? '', /LOG_LEVEL: must be one of debug, info, warn/);
  t.is(error?.code, 'CONFIG_INVALID');
});

test('ranges and protocols are enforced', (t) => {
  const error = t.throws(() => loadConfig(spec, { PORT: '70000', NATS_URL: 'http://x' }), {
    instanceOf: ConfigError,
  });
  t.regex(error?.message ?? '', /PORT: must be between 1 and 65535, got 70000/);
  t.regex(error?.message ?? '', /NATS_URL: must use nats, got "http:"/);
});

test('a custom parser reports its own message', (t) => {
  const shards = custom(
    'SHARD_MAP',
    (raw) => {
      if (!raw.includes('=')) throw new Error('expected <range>=<url>');
      return raw.split(';');
    },
    { doc: 'shard map' },
  );
  const error = t.throws(() => loadConfig({ shards }, { SHARD_MAP: 'nope' }), { instanceOf: ConfigError });
  t.regex(error?.message ?? '', /SHARD_MAP: expected <range>=<url>/);
});

test('describeConfig renders a table and hides secret defaults', (t) => {
  const table = describeConfig({
    ...spec,
    key: str('JWT_KEY', { default: 'abc', secret: true, doc: 'key' }),
  });
  t.regex(table, /\| `PORT` \| `3000` \| HTTP port \|/);
  t.regex(table, /\| `NATS_URL` \| required \| NATS servers \|/);
  t.regex(table, /\| `JWT_KEY` \| \(secret\) \| key \|/);
});

test('a variable that requires another names the missing one, with every other problem', (t) => {
  const credentials = {
    ...spec,
    user: optional(str('NATS_USER', { doc: 'user', requires: ['NATS_PASSWORD'] })),
    password: optional(str('NATS_PASSWORD', { doc: 'password', secret: true, requires: ['NATS_USER'] })),
  };
  const error = t.throws(() => loadConfig(credentials, { PORT: 'x', NATS_USER: 'feed' }), {
    instanceOf: ConfigError,
  });
  t.deepEqual(
    error?.problems.map((p) => p.variable),
    ['PORT', 'NATS_URL', 'NATS_PASSWORD'],
  );
  t.regex(error?.message ?? '', /NATS_PASSWORD: is required when NATS_USER is set/);
  const both = loadConfig(credentials, { NATS_URL: 'nats://n:4222', NATS_USER: 'feed', NATS_PASSWORD: 'pw' });
  t.is(both.user, 'feed');
  t.is(loadConfig(credentials, { NATS_URL: 'nats://n:4222' }).user, undefined);
});
