import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram } from 'prom-client';

/** The metric kinds a service records; created on `app.metrics` so no service imports prom-client. */
export type { Counter, Gauge, Histogram };

export interface MetricOptions<L extends string> {
  /** `instantpost_<what>_<unit>`: dashboards and alert rules (deploy/monitoring) rely on the name. */
  name: string;
  help: string;
  labelNames?: readonly L[];
}

/** A counter on the app's registry. */
export function counter<L extends string = never>(
  app: FastifyInstance,
  options: MetricOptions<L>,
): Counter<L> {
  return new Counter({ ...options, labelNames: options.labelNames ?? [], registers: [app.metrics] });
}

/** A histogram on the app's registry; `buckets` in the metric's unit (seconds by default ones). */
export function histogram<L extends string = never>(
  app: FastifyInstance,
  options: MetricOptions<L> & { buckets?: number[] },
): Histogram<L> {
  return new Histogram({ ...options, labelNames: options.labelNames ?? [], registers: [app.metrics] });
}

/** A gauge on the app's registry; with `read`, its value is read at scrape time. */
export function gauge(
  app: FastifyInstance,
  options: MetricOptions<never> & { read?: () => number },
): Gauge<never> {
  const { read, ...rest } = options;
  return new Gauge({
    ...rest,
    registers: [app.metrics],
    ...(read
      ? {
          collect() {
            this.set(read());
          },
        }
      : {}),
  });
}

/**
 * Counts the answers of one route by outcome (`outcome` label), e.g. logins by success or failure:
 * `outcomeOf` names the outcome of a status code (one of `outcomes`), `undefined` leaves it uncounted.
 */
export function countRouteOutcomes(
  app: FastifyInstance,
  route: { method: string; url: string },
  options: Omit<MetricOptions<'outcome'>, 'labelNames'> & {
    /** Every outcome, shown as 0 from the start so a rate over them never lacks a series. */
    outcomes: readonly string[];
    outcomeOf: (status: number) => string | undefined;
  },
): Counter<'outcome'> {
  const metric = counter(app, { name: options.name, help: options.help, labelNames: ['outcome'] });
  for (const outcome of options.outcomes) metric.inc({ outcome }, 0);
  app.addHook('onResponse', (request, reply, done) => {
    if (request.method === route.method && request.routeOptions.url === route.url) {
      const outcome = options.outcomeOf(reply.statusCode);
      if (outcome) metric.inc({ outcome });
    }
    done();
  });
  return metric;
}
