import type { AnyCloudEvent } from '@instantpost/events';
import { contextFromTraceparent, injectTraceContext, SpanKind, withSpan } from '@instantpost/telemetry';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { type NatsConnection, headers as natsHeaders } from 'nats';
import { AckChannel, type PublishReceipt } from './ack-channel.ts';
import { assertPrefix, natsSubjectFor } from './names.ts';
import { traced } from './outbox.ts';

export type { PublishReceipt } from './ack-channel.ts';

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
  const acks = new AckChannel(options.nc, options.timeoutMs ?? 5000);
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
        h.set('Nats-Msg-Id', event.id);
        injectTraceContext(h);
        const payload = typeof event.payload === 'string' ? encoder.encode(event.payload) : event.payload;
        return acks.publish(subject, payload, h);
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
