import { isIP } from 'node:net';
import {
  bool,
  type ConfigOf,
  type ConfigSpec,
  custom,
  int,
  loadConfig,
  oneOf,
  optional,
  str,
  url,
} from '@instantpost/config';
import { loadPublicKey } from '@instantpost/http';
import { parseShardMap } from '@instantpost/shards';
import type { ConnectionOptions } from 'nats';

/** The five services and the port each listens on by default (the gateway routes to these locally). */
export const SERVICE_PORTS = {
  upload: 3001,
  'media-processing': 3002,
  metadata: 3003,
  feed: 3004,
  notification: 3005,
} as const;

export type ServiceName = keyof typeof SERVICE_PORTS;

/** Two physical databases with eight logical shards each: sharding is exercised even on a laptop. */
export const LOCAL_SHARD_MAP =
  '0-7=postgres://postgres@127.0.0.1:5432/instantpost_0;8-15=postgres://postgres@127.0.0.1:5432/instantpost_1';

/**
 * Connections per physical database by default: the local stack's budget. Five services on two
 * databases hold at most 2 × (3 + 2 + 4 + 3 + 4) = 32 pooled connections plus one LISTEN connection
 * per database for each outbox relay (upload, metadata, notification: 6), 38 of Postgres's default
 * 100, so `npm test` fits beside `npm start`. Production sets PG_POOL_MAX (k8s config) behind PgBouncer.
 */
export const PG_POOL_DEFAULTS: Record<ServiceName, number> = {
  upload: 3,
  'media-processing': 2,
  metadata: 4,
  feed: 3,
  notification: 4,
};

/** The local gateway (nginx) reaches the services over loopback. */
export const LOCAL_TRUSTED_PROXIES = '127.0.0.1,::1';

/** `10.0.0.0/8,127.0.0.1`: addresses and CIDR ranges, comma-separated; `none` for an empty list. */
export function parseProxyList(text: string): string[] {
  if (text.trim() === 'none') return [];
  return text.split(',').map((entry) => {
    const item = entry.trim();
    const [address = '', bits, ...rest] = item.split('/');
    const family = isIP(address);
    const maxBits = family === 6 ? 128 : 32;
    const bitsOk = bits === undefined || (/^[0-9]{1,3}$/.test(bits) && Number(bits) <= maxBits);
    if (family === 0 || !bitsOk || rest.length > 0) {
      throw new Error(`"${item}" is not an IP address or CIDR range`);
    }
    return item;
  });
}

/** The variables every service reads. A service adds its own with `{ ...chassisSpec(name), ...}`. */
export function chassisSpec(service: ServiceName) {
  return {
    port: int('PORT', { default: SERVICE_PORTS[service], min: 0, max: 65535, doc: 'HTTP port' }),
    host: str('HOST', { default: '127.0.0.1', doc: 'address to listen on (`0.0.0.0` in containers)' }),
    logLevel: oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, {
      default: 'info',
      doc: 'pino log level; a line per request only at `debug` (the gateway logs every request)',
    }),
    shardMap: custom('SHARD_MAP', parseShardMap, {
      default: parseShardMap(LOCAL_SHARD_MAP),
      shown: LOCAL_SHARD_MAP,
      doc: 'logical shard ranges → physical Postgres databases (`<from>-<to>=<url>;…`)',
    }),
    shardMapLive: bool('SHARD_MAP_LIVE', {
      default: true,
      doc:
        'follow the authoritative shard map (JetStream KV bucket `shardmap`, seeded from SHARD_MAP when absent) ' +
        'and re-route shards as it changes; `false`: SHARD_MAP as is',
    }),
    pgPoolMax: int('PG_POOL_MAX', {
      default: PG_POOL_DEFAULTS[service],
      min: 1,
      max: 200,
      doc: 'connections per physical database (the most this process opens to each)',
    }),
    pgIdleTimeout: int('PG_IDLE_TIMEOUT', {
      default: 10,
      min: 0,
      max: 3600,
      doc: 'seconds before an idle pooled connection is closed (0: never)',
    }),
    pgStatementTimeoutMs: int('PG_STATEMENT_TIMEOUT_MS', {
      default: 15_000,
      min: 0,
      max: 3_600_000,
      doc: 'statement_timeout of every service connection: a longer statement is cancelled (0: none)',
    }),
    pgIdleInTransactionTimeoutMs: int('PG_IDLE_IN_TRANSACTION_TIMEOUT_MS', {
      default: 30_000,
      min: 0,
      max: 3_600_000,
      doc: 'idle_in_transaction_session_timeout: a transaction idle this long is ended, its locks freed (0: none)',
    }),
    pgPrepare: bool('PG_PREPARE', {
      default: true,
      doc: 'named prepared statements; `false` behind PgBouncer in transaction pooling mode',
    }),
    redisUrl: url('REDIS_URL', {
      default: 'redis://127.0.0.1:6379',
      protocols: ['redis', 'rediss'],
      doc: 'Redis',
    }),
    redisClientTracking: bool('REDIS_CLIENT_TRACKING', {
      default: true,
      doc: 'keep warm reads in process while Redis tracks them (CLIENT TRACKING); `false` for a Redis or proxy without it',
    }),
    redisPrefix: str('REDIS_PREFIX', {
      default: `${service}:`,
      pattern: /^[A-Za-z0-9_.:-]+:$/,
      doc: "prefix of every Redis key of this service (ends with ':')",
    }),
    natsUrl: str('NATS_URL', {
      default: 'nats://127.0.0.1:4222',
      pattern: /^(nats|tls):\/\/[^,\s]+(,(nats|tls):\/\/[^,\s]+)*$/,
      doc: 'NATS servers, comma-separated',
    }),
    natsPrefix: str('NATS_PREFIX', {
      default: '',
      pattern: /^[a-z0-9]*$/,
      doc: 'subject/stream prefix for isolated environments (tests); empty in production',
    }),
    natsUser: optional(
      str('NATS_USER', {
        pattern: /^[A-Za-z0-9_.-]+$/,
        requires: ['NATS_PASSWORD'],
        doc: "this service's NATS user (Kubernetes: its own Secret); unset: no credentials (local stack)",
      }),
    ),
    natsPassword: optional(
      str('NATS_PASSWORD', { secret: true, requires: ['NATS_USER'], doc: "NATS_USER's password" }),
    ),
    streamReplicas: int('NATS_STREAM_REPLICAS', {
      default: 1,
      min: 1,
      max: 5,
      doc: 'JetStream replicas (3 in prod)',
    }),
    trustedProxies: custom('TRUSTED_PROXIES', parseProxyList, {
      default: parseProxyList(LOCAL_TRUSTED_PROXIES),
      shown: LOCAL_TRUSTED_PROXIES,
      doc: 'proxies whose X-Forwarded-For names the client (the gateway / ingress pods); `none` trusts no header',
    }),
    jwtPublicKey: optional(
      custom('JWT_PUBLIC_KEY', loadPublicKey, {
        doc: 'Ed25519 public key (PEM, or PEM base64) for access tokens',
      }),
    ),
    otlpEndpoint: optional(
      url('OTEL_EXPORTER_OTLP_ENDPOINT', { doc: 'OTLP/HTTP endpoint; traces exported only when set' }),
    ),
    sentryDsn: optional(
      url('SENTRY_DSN', {
        protocols: ['http', 'https'],
        secret: true,
        doc: 'Sentry DSN: unhandled errors and 5xx answers (not 503) are reported when set',
      }),
    ),
    sentryRelease: optional(
      str('SENTRY_RELEASE', {
        pattern: /^\S{1,200}$/,
        doc: 'release named in error reports (e.g. the image tag)',
      }),
    ),
    sentryEnvironment: optional(
      str('SENTRY_ENVIRONMENT', {
        pattern: /^[\w.-]{1,64}$/,
        doc: 'environment named in error reports (`production`)',
      }),
    ),
  } satisfies ConfigSpec;
}

export type ChassisConfig = ConfigOf<ReturnType<typeof chassisSpec>>;

/** The NATS connection options of a service's process: its servers, name and credentials. */
export function natsConnectOptions(
  config: Pick<ChassisConfig, 'natsUrl' | 'natsUser' | 'natsPassword'>,
  name: string,
): ConnectionOptions {
  const credentials =
    config.natsUser !== undefined ? { user: config.natsUser, pass: config.natsPassword ?? '' } : {};
  // nats.js otherwise builds two stack-capturing Errors for every request and JetStream publish, eagerly,
  // in case it times out (~0.7 s of metadata's CPU in a 25 s like storm). A timeout still says what timed
  // out; it only loses the caller's stack.
  return { servers: config.natsUrl.split(','), name, noAsyncTraces: true, ...credentials };
}

/** The pool settings of a service's shards. */
export function shardPoolOptions(
  config: Pick<
    ChassisConfig,
    'pgPoolMax' | 'pgIdleTimeout' | 'pgPrepare' | 'pgStatementTimeoutMs' | 'pgIdleInTransactionTimeoutMs'
  >,
): {
  poolMax: number;
  idleTimeout: number;
  prepare: boolean;
  statementTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
} {
  return {
    poolMax: config.pgPoolMax,
    idleTimeout: config.pgIdleTimeout,
    prepare: config.pgPrepare,
    statementTimeoutMs: config.pgStatementTimeoutMs,
    idleInTransactionTimeoutMs: config.pgIdleInTransactionTimeoutMs,
  };
}

export { loadConfig };
