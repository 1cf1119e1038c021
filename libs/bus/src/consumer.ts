import type { EventSubject } from '@instantpost/events';
import { validateDefinition } from './consumer-definition.ts';
import { type ConsumerRunner, Runner, type StartConsumerOptions } from './consumer-runner.ts';
import { assertPrefix } from './names.ts';

export {
  type BatchContext,
  type BatchHandler,
  type ConsumerDefinition,
  defineConsumer,
  type EventHandler,
  type HandlerContext,
  type HandlerMap,
} from './consumer-definition.ts';
export type {
  ConsumerRunner,
  ConsumerStats,
  DeliveryOutcome,
  StartConsumerOptions,
} from './consumer-runner.ts';

/**
 * Starts a durable pull consumer for `definition` (one per stream its subjects live in), created or
 * updated first. Each event is validated with libs/events, handled inside a span continuing the
 * message's `traceparent` (or the event's, or a new trace), and then acked; a failure is retried with
 * exponential backoff (`nak(delay)`) and dead-lettered after `maxDeliver` deliveries; an invalid event is
 * dead-lettered at once and the consumer carries on with the next one (`decideDelivery`).
 */
export async function startConsumer<S extends EventSubject>(
  options: StartConsumerOptions<S>,
): Promise<ConsumerRunner> {
  assertPrefix(options.prefix);
  validateDefinition(options.definition);
  // The handlers are looked up by the subject of each message, so their precise types end here.
  const runner = new Runner(options as unknown as StartConsumerOptions<EventSubject>);
  await runner.start();
  return runner;
}
