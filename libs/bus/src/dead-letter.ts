import { injectTraceContext } from '@instantpost/telemetry';
import { type JetStreamClient, type MsgHdrs, headers as natsHeaders } from 'nats';
import { dlqSubjectFor } from './names.ts';

/** Why an event was dead-lettered. */
export interface DeadLetterError {
  /**
   * `BAD_JSON`, `NOT_CLOUDEVENT`, `UNKNOWN_TYPE`, `TYPE_MISMATCH`, `SCHEMA_VIOLATION` (invalid event, never
   * retried), `HANDLER_FAILED` (the last delivery threw), `BUS_NON_RETRYABLE` (the handler refused it),
   * `MAX_DELIVERIES` (never acknowledged: the process died or hung on the last delivery).
   */
  readonly code: string;
  readonly message: string;
  /** JSON pointer of the offending field, for schema violations. */
  readonly path?: string;
  /** The class of the handler's error. */
  readonly name?: string;
}

/**
 * The payload of a message on `dlq.<subject>` (stream `DLQ`). Replay: publish `event` (as JSON) on
 * `subject` again; consumers that already handled it skip it through their inbox.
 */
export interface DeadLetter {
  /** The original event: its parsed JSON, or the raw text when it was not JSON. */
  readonly event: unknown;
  readonly error: DeadLetterError;
  /** The durable consumer that gave up, e.g. `feed-fanout`. */
  readonly consumer: string;
  /** How many times it was delivered to that consumer. */
  readonly deliveries: number;
  /** The original event subject, without any prefix (`post.published`). */
  readonly subject: string;
  /** Where the original still is: stream name and sequence. */
  readonly stream: string;
  readonly streamSequence: number;
  /** The original message headers (`traceparent`, `Nats-Msg-Id`...), each with its values. */
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly failedAt: string;
}

/** Extra headers on every dead-letter message, so `nats stream view DLQ` shows the reason at a glance. */
export const DeadLetterHeaders = {
  Consumer: 'Dlq-Consumer',
  ErrorCode: 'Dlq-Error-Code',
  Subject: 'Dlq-Subject',
  Deliveries: 'Dlq-Deliveries',
} as const;

const decoder = new TextDecoder('utf-8');

/** The payload as JSON when it parses, else as text (what a dead letter's `event` holds). */
export function decodePayload(data: Uint8Array): unknown {
  const text = decoder.decode(data);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** NATS headers as a plain record (for a dead letter's `headers`). */
export function headersToRecord(h: MsgHdrs | undefined): Record<string, string[]> {
  const record: Record<string, string[]> = {};
  if (!h) return record;
  for (const key of h.keys()) record[key] = h.values(key);
  return record;
}

/**
 * Publishes a dead letter on `dlq.<subject>` and awaits the ack. The original headers are copied (the
 * `Nats-*` ones excepted) and the active trace continues; `Nats-Msg-Id` is derived from the consumer and
 * the original's stream sequence, so replicas or a retry dead-lettering the same delivery store it once.
 */
export async function publishDeadLetter(
  js: JetStreamClient,
  letter: DeadLetter,
  options: { prefix?: string | undefined; originalHeaders?: MsgHdrs | undefined } = {},
): Promise<void> {
  const h = natsHeaders();
  for (const key of options.originalHeaders?.keys() ?? []) {
    if (key.toLowerCase().startsWith('nats-')) continue;
    for (const value of options.originalHeaders?.values(key) ?? []) h.append(key, value);
  }
  injectTraceContext(h);
  h.set(DeadLetterHeaders.Consumer, letter.consumer);
  h.set(DeadLetterHeaders.ErrorCode, letter.error.code);
  h.set(DeadLetterHeaders.Subject, letter.subject);
  h.set(DeadLetterHeaders.Deliveries, String(letter.deliveries));
  h.set('Content-Type', 'application/json');
  await js.publish(dlqSubjectFor(letter.subject, options.prefix), JSON.stringify(letter), {
    msgID: `dlq:${letter.consumer}:${letter.stream}:${letter.streamSequence}`,
    headers: h,
  });
}

/** Reads a dead-letter payload (operators' tools, tests). Throws on anything else. */
export function parseDeadLetter(data: Uint8Array | string): DeadLetter {
  const value = JSON.parse(typeof data === 'string' ? data : decoder.decode(data)) as Partial<DeadLetter>;
  if (typeof value.consumer !== 'string' || typeof value.subject !== 'string' || !value.error) {
    throw new Error('not a dead letter');
  }
  return value as DeadLetter;
}
