import type { AnyCloudEvent } from '@instantpost/events';
import { contextFromTraceparent, injectTraceContext, SpanKind, withSpan } from '@instantpost/telemetry';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import {
  ErrorCode,
  type JetStreamClient,
  type NatsConnection,
  NatsError,
  headers as natsHeaders,
} from 'nats';
import { BusErrorCodes, PublishError } from './errors.ts';
import { assertPrefix, natsSubjectFor } from './names.ts';
import { traced } from './outbox.ts';

/** The JetStream acknowledgement of one publish. */
export interface PublishReceipt {
  readonly stream: string;
  readonly seq: number;
  /** True when the stream already held this event id within its duplicate window (nothing stored). */
  readonly duplicate: boolean;
}

/** An event already serialized (an outbox row): published byte for byte. */
export interface SerializedEvent {
  /** The event subject without prefix, e.g. `post.published`. */
  readonly subject: string;
  /** The CloudEvents id, sent as `Nats-Msg-Id`. */
  readonly id: string;
  readonly payload: string | Uint8Array;
  /**
   * The trace to continue (stored with the outbox row). `undefined`: the active context;
   * `null`: a new trace.
   */
  readonly traceparent?: string | null | undefined;
}

/** Publishes events to JetStream and waits for the stream's ack. */
export interface Publisher {
  /** Publishes `event` on its subject (= its `type`). Rejects with `PublishError` when not acknowledged. */
  publish(event: AnyCloudEvent): Promise<PublishReceipt>;
  /** Publishes an already serialized event (used by the outbox relay). */
  publishSerialized(event: SerializedEvent): Promise<PublishReceipt>;
}

export interface PublisherOptions {
  nc: NatsConnection;
  /** Isolation prefix (tests). */
  prefix?: string;
  /** How long to wait for the JetStream ack. Default 5000 ms. */
  timeoutMs?: number;
}

const encoder = new TextEncoder();

/**
 * A publisher that sets `Nats-Msg-Id` to the event id (the stream drops a republished event within
 * its duplicate window), adds the W3C `traceparent` header of a `publish <subject>` producer span and
 * awaits the JetStream ack.
 */
export function createPublisher(options: PublisherOptions): Publisher {
  assertPrefix(options.prefix);
  const js: JetStreamClient = options.nc.jetstream({ timeout: options.timeoutMs ?? 5000 });
  const prefix = options.prefix;

  const send = (event: SerializedEvent): Promise<PublishReceipt> => {
    const subject = natsSubjectFor(event.subject, prefix);
    // A stored row without a trace (null) starts a new trace rather than joining whatever is active.
    const parent =
      event.traceparent === undefined ? undefined : contextFromTraceparent(event.traceparent, ROOT_CONTEXT);
    return withSpan(
      `publish ${event.subject}`,
      async () => {
        const h = natsHeaders();
        h.set('Content-Type', 'application/cloudevents+json; charset=utf-8');
        injectTraceContext(h);
        const payload = typeof event.payload === 'string' ? encoder.encode(event.payload) : event.payload;
        try {
          const ack = await js.publish(subject, payload, { msgID: event.id, headers: h });
          return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
        } catch (err) {
          throw toPublishError(err, subject);
        }
      },
      {
        kind: SpanKind.PRODUCER,
        ...(parent ? { parent } : {}),
        attributes: {
          'messaging.system': 'nats',
          'messaging.destination.name': subject,
          'messaging.message.id': event.id,
        },
      },
    );
  };

  return {
    publish: (event) => send({ subject: event.type, id: event.id, payload: JSON.stringify(traced(event)) }),
    publishSerialized: send,
  };
}

function toPublishError(err: unknown, subject: string): PublishError {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof NatsError) {
    if (err.code === ErrorCode.NoResponders) {
      return new PublishError(
        BusErrorCodes.NoStream,
        `no stream captures ${subject} (or JetStream is down)`,
        subject,
        {
          cause: err,
        },
      );
    }
    if (err.code === ErrorCode.Timeout) {
      return new PublishError(
        BusErrorCodes.PublishTimeout,
        `no JetStream ack for ${subject} in time`,
        subject,
        {
          cause: err,
        },
      );
    }
    if (err.code === ErrorCode.ConnectionClosed || err.code === ErrorCode.ConnectionDraining) {
      return new PublishError(BusErrorCodes.ConnectionClosed, `NATS connection closed: ${message}`, subject, {
        cause: err,
      });
    }
  }
  return new PublishError(BusErrorCodes.PublishFailed, `publish to ${subject} failed: ${message}`, subject, {
    cause: err,
  });
}
