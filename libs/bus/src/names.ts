import { BusConfigError, BusErrorCodes } from './errors.ts';

/**
 * The streams of InstantPost and the subjects each captures (ARCHITECTURE.md, "Events"). Limits
 * retention, because several services consume the same events (see PITFALLS).
 */
export const STREAM_SUBJECTS = {
  MEDIA: ['media.>'],
  SOCIAL: ['account.>', 'session.>', 'follow.>', 'post.>', 'like.>', 'comment.>'],
  NOTIFICATION: ['notification.>'],
  DLQ: ['dlq.>'],
} as const satisfies Record<string, readonly string[]>;

/** `MEDIA`, `SOCIAL`, `NOTIFICATION` or `DLQ`. */
export type StreamName = keyof typeof STREAM_SUBJECTS;

export const STREAM_NAMES = Object.keys(STREAM_SUBJECTS) as StreamName[];

const PREFIX = /^[A-Za-z0-9_-]{1,16}$/;
const NATS_NAME = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * Checks an isolation prefix (tests): one subject token that is also valid in a stream name.
 * Production runs with no prefix (`undefined` or empty).
 */
export function assertPrefix(prefix: string | undefined): void {
  if (prefix && !PREFIX.test(prefix)) {
    throw new BusConfigError(
      BusErrorCodes.InvalidName,
      `bus prefix "${prefix}" must be 1-16 letters, digits, "-" or "_"`,
    );
  }
}

/** Checks a durable consumer name: it becomes a file name on the server (PITFALLS). */
export function assertDurableName(name: string): void {
  if (!NATS_NAME.test(name)) {
    throw new BusConfigError(
      BusErrorCodes.InvalidName,
      `consumer name "${name}" must be 1-32 letters, digits, "-" or "_" (e.g. "feed-fanout")`,
    );
  }
}

/** The stream's name on the server: `SOCIAL`, or `T1A2B3C4_SOCIAL` with a prefix. */
export function streamNameFor(stream: StreamName, prefix?: string): string {
  return prefix ? `${prefix.toUpperCase()}_${stream}` : stream;
}

/** The NATS subject of an event subject: `post.published`, or `t1a2b3c4.post.published` with a prefix. */
export function natsSubjectFor(subject: string, prefix?: string): string {
  return prefix ? `${prefix}.${subject}` : subject;
}

/** The event subject of a NATS subject (the prefix removed), or `undefined` when outside the prefix. */
export function eventSubjectOf(natsSubject: string, prefix?: string): string | undefined {
  if (!prefix) return natsSubject;
  return natsSubject.startsWith(`${prefix}.`) ? natsSubject.slice(prefix.length + 1) : undefined;
}

/**
 * The stream that stores the server's max-delivery advisories of the event streams, so that an event the
 * server gave up on reaches `DLQ` even when no replica was listening at that moment.
 */
export const ADVISORY_STREAM = 'ADVISORIES';

/** `ADVISORIES`, or `T1A2B3C4_ADVISORIES` with a prefix. */
export function advisoryStreamNameFor(prefix?: string): string {
  return prefix ? `${prefix.toUpperCase()}_${ADVISORY_STREAM}` : ADVISORY_STREAM;
}

/**
 * What the server publishes when it stops delivering a message of `stream` to `consumer` after
 * `max_deliver` deliveries (`*` for any consumer). Not prefixed: the prefix is in the stream name.
 */
export function maxDeliveriesSubject(stream: string, consumer: string): string {
  return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`;
}

/** The dead-letter subject of an event subject: `dlq.post.published` (prefixed in tests). */
export function dlqSubjectFor(subject: string, prefix?: string): string {
  return natsSubjectFor(`dlq.${subject}`, prefix);
}

/** The stream that captures an event subject (by its first token), or `undefined`. */
export function streamOf(subject: string): StreamName | undefined {
  const first = subject.split('.', 1)[0];
  for (const name of STREAM_NAMES) {
    if (STREAM_SUBJECTS[name].some((pattern) => pattern === `${first}.>`)) return name;
  }
  return undefined;
}

/** Whether a Postgres schema name is a plain identifier (it is interpolated as an identifier). */
export function assertSchemaName(schema: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new BusConfigError(
      BusErrorCodes.InvalidName,
      `schema name "${schema}" must match [a-z_][a-z0-9_]*`,
    );
  }
}
