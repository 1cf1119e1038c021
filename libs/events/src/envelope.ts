import { type TObject, type TProperties, Type } from '@sinclair/typebox';
import { Timestamp } from './contracts/common.ts';
import { EventContracts, type EventData, type EventSubject } from './contracts/index.ts';

/** A W3C trace context `traceparent` (CloudEvents distributed-tracing extension). */
export const TraceParent = Type.String({ pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' });

/**
 * The CloudEvents 1.0 attributes every envelope may carry. Unknown extension attributes are allowed
 * (CloudEvents lets producers add them), and so are unknown `data` fields: consumers read what they
 * know, so a producer can add an optional field before every consumer is upgraded.
 */
const envelopeAttributes = {
  specversion: Type.Literal('1.0'),
  id: Type.String({ minLength: 1, maxLength: 128, description: 'Unique per source; also the Nats-Msg-Id' }),
  source: Type.String({ minLength: 1, maxLength: 256, description: 'URI-reference of the producer' }),
  time: Timestamp,
  datacontenttype: Type.Optional(Type.Literal('application/json')),
  dataschema: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  subject: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  traceparent: Type.Optional(TraceParent),
  tracestate: Type.Optional(Type.String({ maxLength: 512 })),
} satisfies TProperties;

/** The four attributes CloudEvents 1.0 requires: what makes a JSON object a CloudEvent at all. */
export const CloudEventCore = Type.Object({
  specversion: Type.String({ maxLength: 16 }),
  id: Type.String({ maxLength: 1024 }),
  source: Type.String({ maxLength: 1024 }),
  type: Type.String({ maxLength: 256 }),
});

/** The full schema of one event: the envelope with `type` fixed to the subject and its typed `data`. */
export function envelopeSchema<S extends EventSubject>(subject: S): TObject {
  return Type.Object({
    ...envelopeAttributes,
    type: Type.Literal(subject),
    data: EventContracts[subject],
  });
}

/**
 * A CloudEvents 1.0 structured JSON event of type `S`. With `S` a union (the default) it is the
 * discriminated union of every event, so `if (event.type === 'like.created') event.data.postId` types.
 */
export type CloudEvent<S extends EventSubject = EventSubject> = S extends EventSubject
  ? {
      specversion: '1.0';
      id: string;
      source: string;
      type: S;
      time: string;
      datacontenttype?: 'application/json';
      dataschema?: string;
      subject?: string;
      traceparent?: string;
      tracestate?: string;
      data: EventData<S>;
    }
  : never;

/** Any known event (the union over every subject). */
export type AnyCloudEvent = CloudEvent<EventSubject>;
