import type { JetStreamManager } from 'nats';
import { decodePayload, headersToRecord, publishDeadLetter } from './dead-letter.ts';
import type { DeliveryScope } from './delivery.ts';
import { eventSubjectOf } from './names.ts';

/** The server's subject for "gave up on a message of `stream` after max_deliver deliveries to `consumer`". */
export function maxDeliveriesSubject(stream: string, consumer: string): string {
  return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`;
}

/**
 * Dead-letters the event a max-deliveries advisory names: the server gave up on it without an ack (the
 * process died or hung on its last try), so no handler outcome will ever do it.
 */
export async function deadLetterMaxDelivered(
  scope: DeliveryScope,
  jsm: JetStreamManager,
  stream: string,
  data: Uint8Array,
): Promise<void> {
  const advisory = JSON.parse(new TextDecoder().decode(data)) as { stream_seq: number; deliveries: number };
  const stored = await jsm.streams.getMessage(stream, { seq: advisory.stream_seq });
  const subject = eventSubjectOf(stored.subject, scope.prefix) ?? stored.subject;
  await publishDeadLetter(
    scope.js,
    {
      event: decodePayload(stored.data),
      error: {
        code: 'MAX_DELIVERIES',
        message: `not acknowledged after ${advisory.deliveries} deliveries (ack_wait ${scope.settings.ackWaitMs} ms): the handler hung or its process died`,
      },
      consumer: scope.consumer,
      deliveries: advisory.deliveries,
      subject,
      stream,
      streamSequence: advisory.stream_seq,
      headers: headersToRecord(stored.header),
      failedAt: new Date().toISOString(),
    },
    { prefix: scope.prefix, originalHeaders: stored.header },
  );
  scope.logger.warn(
    { consumer: scope.consumer, subject, seq: advisory.stream_seq },
    'unacknowledged event dead-lettered',
  );
}
