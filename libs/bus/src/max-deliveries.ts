import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamManager,
  type JsMsg,
  NatsError,
  nanos,
  ReplayPolicy,
} from 'nats';
import { type DurableConfig, filterFor } from './consumer-config.ts';
import { decodePayload, headersToRecord, publishDeadLetter } from './dead-letter.ts';
import type { DeliveryScope } from './delivery.ts';
import { retryDelay } from './delivery-decision.ts';
import { eventSubjectOf, maxDeliveriesSubject } from './names.ts';

/** The dead-letter code of an event the server gave up on without an ack. */
export const MAX_DELIVERIES = 'MAX_DELIVERIES';

/** `io.nats.jetstream.advisory.v1.max_deliver`, the part the bus reads. */
interface MaxDeliveriesAdvisory {
  readonly stream: string;
  readonly consumer: string;
  readonly stream_seq: number;
  readonly deliveries: number;
}

/**
 * The durable that reads one consumer's advisories from `ADVISORIES`: the consumer's own name, filtered to
 * its streams. Several streams on a 2.9 server (no `filter_subjects`) give a wider filter; the advisories
 * of other consumers it lets through are acked and skipped. It never gives an advisory up (`max_deliver`
 * unlimited): a DLQ that cannot be reached is retried until it can.
 */
export function advisoryConsumerConfig(
  consumer: string,
  streams: readonly string[],
  multiFilter: boolean,
): DurableConfig {
  return {
    durable_name: consumer,
    description: `${consumer}: max-delivery advisories of ${streams.join(', ')} → DLQ`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(30_000),
    max_deliver: -1,
    max_ack_pending: 100,
    ...filterFor(
      streams.map((stream) => maxDeliveriesSubject(stream, consumer)),
      multiFilter,
    ),
  };
}

/**
 * Handles one stored advisory: dead-letters the event it names (fetched by stream sequence) with
 * `MAX_DELIVERIES`, then acks it. The letter's `Nats-Msg-Id` is the one a handler outcome of the same
 * event would have had, so a retried advisory or a racing replica stores it once (within the DLQ's
 * duplicate window). When DLQ cannot be reached the advisory is retried with backoff.
 */
export async function handleAdvisory(
  scope: DeliveryScope,
  jsm: JetStreamManager,
  streams: readonly string[],
  msg: JsMsg,
): Promise<'dead-lettered' | 'skipped' | 'retried'> {
  const advisory = parseAdvisory(msg.data);
  if (!advisory || advisory.consumer !== scope.consumer || !streams.includes(advisory.stream)) {
    msg.ack();
    return 'skipped';
  }
  try {
    await deadLetterMaxDelivered(scope, jsm, advisory);
    msg.ack();
    return 'dead-lettered';
  } catch (err) {
    scope.logger.error(
      { err, consumer: scope.consumer, stream: advisory.stream, seq: advisory.stream_seq },
      'cannot dead-letter an event past max_deliver, retrying',
    );
    msg.nak(retryDelay(msg.info.deliveryCount, scope.settings));
    return 'retried';
  }
}

async function deadLetterMaxDelivered(
  scope: DeliveryScope,
  jsm: JetStreamManager,
  advisory: MaxDeliveriesAdvisory,
): Promise<void> {
  const { stream, stream_seq: seq, deliveries } = advisory;
  const stored = await storedMessage(jsm, stream, seq);
  const subject = stored ? (eventSubjectOf(stored.subject, scope.prefix) ?? stored.subject) : 'unknown';
  const gone = stored ? '' : ` The event is no longer in ${stream} (past its max age).`;
  await publishDeadLetter(
    scope.js,
    {
      event: stored ? decodePayload(stored.data) : null,
      error: {
        code: MAX_DELIVERIES,
        message: `max deliveries exceeded: delivered ${deliveries} times, never acknowledged (the handling process died, stalled or lost its connection).${gone}`,
      },
      consumer: scope.consumer,
      deliveries,
      subject,
      stream,
      streamSequence: seq,
      headers: headersToRecord(stored?.header),
      failedAt: new Date().toISOString(),
    },
    { prefix: scope.prefix, originalHeaders: stored?.header },
  );
  scope.logger.warn({ consumer: scope.consumer, subject, stream, seq }, 'unacknowledged event dead-lettered');
}

async function storedMessage(jsm: JetStreamManager, stream: string, seq: number) {
  try {
    return await jsm.streams.getMessage(stream, { seq });
  } catch (err) {
    if (err instanceof NatsError && err.api_error?.err_code === 10037) return undefined; // no message found
    throw err;
  }
}

function parseAdvisory(data: Uint8Array): MaxDeliveriesAdvisory | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(data)) as Partial<MaxDeliveriesAdvisory>;
    const ok =
      typeof value.stream === 'string' &&
      typeof value.consumer === 'string' &&
      Number.isInteger(value.stream_seq) &&
      Number.isInteger(value.deliveries);
    return ok ? (value as MaxDeliveriesAdvisory) : undefined;
  } catch {
    return undefined;
  }
}
