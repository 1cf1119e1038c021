import { createHttpApp } from '@instantpost/http';
import type { FastifyInstance } from 'fastify';
import { registerBusMetrics } from './bus-metrics.ts';
import type { ServiceName } from './config.ts';
import { registerConsumerMetrics } from './consumer-metrics.ts';
import type { ServiceContext } from './run.ts';

/**
 * The service's Fastify app wired to its clients: readiness on Postgres, Redis and NATS, rate limits in
 * Redis, and the event backbone's figures (consumer lag and outcomes, outbox, dead letters) on /metrics;
 * build it before `startEventWork` so the consumers report to it.
 */
export async function createServiceApp<C>(
  service: ServiceName,
  ctx: ServiceContext<C>,
  options: { bodyLimit?: number } = {},
): Promise<FastifyInstance> {
  const app = await createHttpApp({
    service,
    logger: ctx.logger,
    jwtPublicKey: ctx.config.jwtPublicKey,
    readiness: ctx.infra.readiness,
    // The client prefixes keys itself (REDIS_PREFIX), so the limiter's own namespace needs no prefix.
    rateLimit: { redis: ctx.infra.redis, keyPrefix: '' },
    trustedProxies: ctx.config.trustedProxies,
    revocations: ctx.infra.revocations,
    ...options,
  });
  registerBusMetrics(app.metrics, {
    service,
    jsm: ctx.infra.jsm,
    shards: ctx.infra.shards,
    natsPrefix: ctx.config.natsPrefix,
  });
  registerConsumerMetrics(app, ctx.infra);
  return app;
}
