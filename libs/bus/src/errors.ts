/** Every failure the bus reports, as stable codes callers can branch on. */
export const BusErrorCodes = {
  /** A prefix, stream, consumer or schema name the bus refuses (NATS names become file names). */
  InvalidName: 'BUS_INVALID_NAME',
  /** A stream or consumer exists with a configuration that cannot be changed in place. */
  Config: 'BUS_CONFIG',
  /** A consumer declaration is inconsistent: a subject with no handler, a handler with no subject... */
  Definition: 'BUS_DEFINITION',
  /** No stream captures the subject (or JetStream is unavailable): the publish had no responder. */
  NoStream: 'BUS_NO_STREAM',
  /** The JetStream ack did not arrive in time; the message may or may not be stored. */
  PublishTimeout: 'BUS_PUBLISH_TIMEOUT',
  /** The NATS connection is closed or draining. */
  ConnectionClosed: 'BUS_CONNECTION_CLOSED',
  /** Any other publish failure. */
  PublishFailed: 'BUS_PUBLISH_FAILED',
  /** Thrown by a handler: the event can never succeed, dead-letter it now instead of retrying. */
  NonRetryable: 'BUS_NON_RETRYABLE',
} as const;

export type BusErrorCode = (typeof BusErrorCodes)[keyof typeof BusErrorCodes];

/** A bad name, stream/consumer configuration or consumer declaration: a start-up failure. */
export class BusConfigError extends Error {
  override readonly name = 'BusConfigError';
  readonly code:
    | typeof BusErrorCodes.InvalidName
    | typeof BusErrorCodes.Config
    | typeof BusErrorCodes.Definition;

  constructor(
    code: typeof BusErrorCodes.InvalidName | typeof BusErrorCodes.Config | typeof BusErrorCodes.Definition,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
  }
}

/** A publish that was not acknowledged by JetStream. The outbox relay retries these. */
export class PublishError extends Error {
  override readonly name = 'PublishError';
  readonly code:
    | typeof BusErrorCodes.NoStream
    | typeof BusErrorCodes.PublishTimeout
    | typeof BusErrorCodes.ConnectionClosed
    | typeof BusErrorCodes.PublishFailed;
  readonly subject: string;

  constructor(
    code:
      | typeof BusErrorCodes.NoStream
      | typeof BusErrorCodes.PublishTimeout
      | typeof BusErrorCodes.ConnectionClosed
      | typeof BusErrorCodes.PublishFailed,
    message: string,
    subject: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
    this.subject = subject;
  }
}

/**
 * Throw from a handler when retrying cannot help (the event refers to something that can never exist,
 * a business rule refuses it): the runner dead-letters it at once instead of retrying `maxDeliver` times.
 * Any other error is treated as transient and retried with backoff.
 */
export class NonRetryableError extends Error {
  override readonly name = 'NonRetryableError';
  readonly code = BusErrorCodes.NonRetryable;
}
