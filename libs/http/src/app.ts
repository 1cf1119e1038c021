import type { KeyObject } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import rateLimit from '@fastify/rate-limit';
import { type Logger, responseTraceparent, setHttpRoute, tracedRequestHandler } from '@instantpost/telemetry';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Redis } from 'ioredis';
import { registerAuth } from './auth.ts';
import { type ReadinessCheck, registerHealth } from './health.ts';
import { LazyChildLogger } from './lazy-logger.ts';
import { registerMetrics } from './metrics.ts';
import { registerSchemas } from './openapi.ts';
import { registerProblemHandler } from './problem.ts';
import type { SessionRevocations } from './revocations.ts';

export interface HttpAppOptions {
  service: string;
  logger: Logger;
  /** Ed25519 public key that access tokens are verified with; without it no route can require a user. */
  jwtPublicKey?: KeyObject | undefined;
  /** Checks behind /readyz, e.g. `{ postgres: () => shards.ping(), redis: () => redis.ping() }`. */
  readiness: Record<string, ReadinessCheck>;
  /** Redis for the rate limiter's counters (shared by replicas); in-memory counters when absent. */
  rateLimit?: { redis: Redis; keyPrefix: string } | undefined;
  /** Largest request body in bytes (JSON routes); upload sets its own limit for multipart. */
  bodyLimit?: number;
  /**
   * How many verified access tokens to remember (default 10,000), so a token sent on every request is
   * verified once; expiry is still checked on every request and failures are never remembered. 0 turns
   * the cache off.
   */
  tokenCacheSize?: number;
  /**
   * Addresses or CIDR ranges of the proxies (the gateway) whose X-Forwarded-For is believed. The client
   * address of a request is the last hop not in this list, so a header the client wrote itself never
   * counts. Empty (the default): X-Forwarded-For is ignored and the socket's peer is the client.
   */
  trustedProxies?: readonly string[] | undefined;
  /** Sessions that ended: their access tokens are refused (filled from `session.revoked` by the chassis). */
  revocations?: SessionRevocations | undefined;
  /**
   * A GET or HEAD without a caller's `traceparent` gets an HTTP server span once in this many (default
   * 100; 1 every read, 0 none); every other request always gets one (telemetry's `tracedRequestHandler`).
   */
  readTraceSampleEvery?: number | undefined;
}

const REQUEST_ID = 'x-request-id';
const SAFE_REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * The Fastify instance every service builds its routes on: pino logger, request ids (taken from the
 * gateway's X-Request-Id or made here, echoed back), problem+json errors, bearer-token auth, schema
 * validation (JSON bodies as sent, query and path coerced), Redis-backed rate limits (per route, opt in
 * with `config.rateLimit`), OpenAPI at /docs/json, /healthz, /readyz and /metrics. Closing the app (SIGTERM) stops taking requests and runs onClose hooks.
 */
export async function createHttpApp(options: HttpAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // pino 10 and the pino types Fastify ships differ only in generics; the instance is the same.
    loggerInstance: options.logger as unknown as FastifyBaseLogger,
    // A line per request is the gateway's job (nginx logs each with its id, status and time): the services
    // write Fastify's "incoming request" / "request completed" pair only at debug. At info it cost ~20 µs
    // of CPU per request (two JSON lines written synchronously), half again a bare route's work.
    logController: new LogController({ disableRequestLogging: !options.logger.isLevelEnabled('debug') }),
    // Each request's child logger is made when the request first logs (most never do).
    childLoggerFactory: (logger, bindings, childOptions) =>
      new LazyChildLogger(logger, bindings, childOptions),
    genReqId: (req) => {
      const given = req.headers[REQUEST_ID];
      return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    trustProxy:
      options.trustedProxies && options.trustedProxies.length > 0 ? [...options.trustedProxies] : false,
    return503OnClosing: true,
    forceCloseConnections: true,
    // Fastify's own server, with the HTTP server span (telemetry) around the requests that get one.
    serverFactory: (handler, fastifyOptions) => {
      // As Fastify sets up its own server (its options carry its defaults by now).
      const opts = fastifyOptions as {
        keepAliveTimeout?: number;
        requestTimeout?: number;
        connectionTimeout?: number;
        maxRequestsPerSocket?: number;
      };
      const server = createServer(
        tracedRequestHandler(handler, { readSampleEvery: options.readTraceSampleEvery }),
      );
      if (opts.keepAliveTimeout !== undefined) server.keepAliveTimeout = opts.keepAliveTimeout;
      if (opts.requestTimeout !== undefined) server.requestTimeout = opts.requestTimeout;
      if (opts.connectionTimeout !== undefined) server.setTimeout(opts.connectionTimeout);
      if (opts.maxRequestsPerSocket) server.maxRequestsPerSocket = opts.maxRequestsPerSocket;
      return server;
    },
  });
  // Callback-style hooks (here and in metrics.ts): an async hook costs a promise on every request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID, request.id);
    // The request's HTTP server span (telemetry; every write, sampled reads) is active here: the route
    // names it, and the response names its trace, the one every event this request causes continues.
    if (request.routeOptions.url) setHttpRoute(request.raw, request.routeOptions.url);
    reply.header('traceparent', responseTraceparent(request.raw));
    done();
  });
  registerProblemHandler(app);
  registerAuth(app, options.jwtPublicKey, {
    tokenCacheSize: options.tokenCacheSize,
    revocations: options.revocations,
  });
  await registerSchemas(app, options.service);
  await app.register(rateLimit, {
    global: false,
    // A Redis outage must not fail the request: the limit is skipped (and Redis errors are logged).
    skipOnError: true,
    ...(options.rateLimit
      ? { redis: options.rateLimit.redis, nameSpace: `${options.rateLimit.keyPrefix}ratelimit:` }
      : {}),
  });
  registerHealth(app, options.readiness);
  registerMetrics(app, options.service);
  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
