import type { DeliveryOutcome } from '@instantpost/bus';
import { counter, histogram } from '@instantpost/http';
import type { FastifyInstance } from 'fastify';
import type { Infra } from './infra.ts';

type Recorder = (outcome: DeliveryOutcome) => void;

/**
 * The recorder of the app built on these clients: `createServiceApp` makes it, `startEventWork` (given
 * the same context) hands it to every consumer, so no service wires its consumers' metrics itself.
 */
const recorders = new WeakMap<Infra, Recorder>();

/**
 * `instantpost_consumer_handle_seconds{consumer,subject}` (how long each delivery took, handler and
 * inbox included) and `instantpost_consumer_outcomes_total{consumer,outcome}` (acked, retried,
 * dead-lettered, ...) on the app's /metrics.
 */
export function registerConsumerMetrics(app: FastifyInstance, infra: Infra): void {
  const seconds = histogram(app, {
    name: 'instantpost_consumer_handle_seconds',
    help: 'Time to handle one delivery of an event, by consumer and subject',
    labelNames: ['consumer', 'subject'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  const outcomes = counter(app, {
    name: 'instantpost_consumer_outcomes_total',
    help: 'Deliveries by consumer and what became of them',
    labelNames: ['consumer', 'outcome'],
  });
  recorders.set(infra, (o) => {
    seconds.observe({ consumer: o.consumer, subject: o.subject }, o.durationMs / 1000);
    outcomes.inc({ consumer: o.consumer, outcome: o.outcome });
  });
}

/** What `startEventWork` passes as `onOutcome` (nothing when no app was built on these clients). */
export function outcomeRecorder(infra: Infra): Recorder | undefined {
  return recorders.get(infra);
}
