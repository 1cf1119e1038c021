import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's Prometheus registry; add the service's own metrics here. */
    metrics: Registry;
  }
}

/** Prometheus text at /metrics: process metrics plus request latency by route and status. */
export function registerMetrics(app: FastifyInstance, service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  app.decorate('metrics', registry);
  // The histogram's child per (method, route, status), made once: observing through a child skips
  // checking and hashing the labels on every request. Routes are patterns, so the set stays small.
  const children = new Map<string, ReturnType<typeof latency.labels>>();
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url;
    if (route && route !== '/metrics') {
      const key = `${request.method} ${reply.statusCode} ${route}`;
      let child = children.get(key);
      if (child === undefined) {
        child = latency.labels({ method: request.method, route, status_code: String(reply.statusCode) });
        children.set(key, child);
      }
      child.observe(reply.elapsedTime / 1000);
    }
    done();
  });
  // Scraped every 15-30 s by Prometheus: its requests are not logged (warnings and errors still are).
  app.get('/metrics', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics());
  });
  return registry;
}
