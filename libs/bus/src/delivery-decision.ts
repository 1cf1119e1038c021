import type { EventError } from '@instantpost/events';
import type { ResolvedSettings } from './consumer-config.ts';
import type { DeadLetterError } from './dead-letter.ts';
import { BusErrorCodes, NonRetryableError } from './errors.ts';

/** What became of one delivery before the runner answers the server. */
export type DeliveryResult =
  /** A subject this consumer has no handler for (let through by a wide filter on a 2.9 server). */
  | { readonly kind: 'not-handled' }
  /** The payload is not a valid event of its subject; no handler ran. */
  | { readonly kind: 'invalid'; readonly error: EventError }
  | { readonly kind: 'handled' }
  /** The handler threw (or rejected) with `error`. */
  | { readonly kind: 'failed'; readonly error: unknown }
  /** The handler was still running at its deadline (`handlerTimeoutMs`). */
  | { readonly kind: 'timed-out'; readonly afterMs: number };

/** The retry and give-up settings the decision depends on. */
export type RetryPolicy = Pick<
  ResolvedSettings,
  'maxDeliver' | 'retryInitialMs' | 'retryMaxMs' | 'retryFactor'
>;

/** How the runner answers the server, and what it counts. */
export type DeliveryDecision =
  | { readonly action: 'ack'; readonly outcome: 'acked' | 'skipped' }
  | { readonly action: 'retry'; readonly delayMs: number; readonly outcome: 'retried' }
  | {
      readonly action: 'dead-letter';
      readonly reason: DeadLetterError;
      readonly outcome: 'dead-lettered' | 'invalid';
    };

/** A number in [0, 1): `Math.random` in the runner, fixed in tests. */
export type Random = () => number;

/** Dead-letter code of a handler that ran past its deadline on the last delivery. */
export const HANDLER_TIMEOUT = 'HANDLER_TIMEOUT';

/**
 * Decides one delivery, without touching NATS: ack what was handled or is not ours, dead-letter an invalid
 * event at once, retry a failure or a timeout with backoff until the last delivery (`maxDeliver`) or a
 * `NonRetryableError`, then dead-letter it with its error.
 */
export function decideDelivery(
  result: DeliveryResult,
  deliveries: number,
  policy: RetryPolicy,
  random: Random = Math.random,
): DeliveryDecision {
  switch (result.kind) {
    case 'not-handled':
      return { action: 'ack', outcome: 'skipped' };
    case 'handled':
      return { action: 'ack', outcome: 'acked' };
    case 'invalid':
      return { action: 'dead-letter', reason: eventErrorReason(result.error), outcome: 'invalid' };
    case 'failed': {
      const permanent = isNonRetryable(result.error);
      if (permanent || deliveries >= policy.maxDeliver) {
        return {
          action: 'dead-letter',
          reason: handlerErrorReason(result.error, permanent),
          outcome: 'dead-lettered',
        };
      }
      return { action: 'retry', delayMs: retryDelay(deliveries, policy, random), outcome: 'retried' };
    }
    case 'timed-out': {
      if (deliveries >= policy.maxDeliver) {
        const message = `handler did not finish within ${result.afterMs} ms (handlerTimeoutMs)`;
        return {
          action: 'dead-letter',
          reason: { code: HANDLER_TIMEOUT, message },
          outcome: 'dead-lettered',
        };
      }
      return { action: 'retry', delayMs: retryDelay(deliveries, policy, random), outcome: 'retried' };
    }
  }
}

/** The dead letter could not be published (DLQ unreachable): keep the event and try again later. */
export function deadLetterFailed(deliveries: number, policy: RetryPolicy, random: Random = Math.random) {
  return { action: 'retry', delayMs: retryDelay(deliveries, policy, random), outcome: 'retried' } as const;
}

/** `initial × factor^(delivery-1)`, capped, with ±20 % jitter so retries of a burst spread out. */
export function retryDelay(deliveries: number, policy: RetryPolicy, random: Random = Math.random): number {
  const exponent = Math.max(0, deliveries - 1);
  const base = Math.min(policy.retryMaxMs, policy.retryInitialMs * policy.retryFactor ** exponent);
  return Math.max(1, Math.round(base * (0.8 + random() * 0.4)));
}

function isNonRetryable(err: unknown): boolean {
  // the code as well as the class: a second copy of this package would have a class of its own
  return (
    err instanceof NonRetryableError ||
    (err instanceof Error && (err as { code?: unknown }).code === BusErrorCodes.NonRetryable)
  );
}

function eventErrorReason(error: EventError): DeadLetterError {
  return { code: error.code, message: error.message, ...(error.path ? { path: error.path } : {}) };
}

function handlerErrorReason(err: unknown, permanent: boolean): DeadLetterError {
  const error = err instanceof Error ? err : new Error(String(err));
  return {
    code: permanent ? BusErrorCodes.NonRetryable : 'HANDLER_FAILED',
    message: error.message.slice(0, 4000),
    name: error.name,
  };
}
