import { randomUUID } from 'node:crypto';
import type { EventData, EventSubject } from './contracts/index.ts';
import type { CloudEvent } from './envelope.ts';
import { validatorFor } from './validate.ts';

export interface CreateEventOptions {
  /** Who produced it, e.g. `/instantpost/metadata` (CloudEvents `source`, a URI-reference). */
  source: string;
  /** Defaults to a random UUID. Redelivery and republishing keep the id: it is the idempotency key. */
  id?: string;
  /** Defaults to now. A `Date` or an RFC 3339 string. */
  time?: Date | string;
  /** The CloudEvents `subject` attribute (what the event is about), e.g. the post id. */
  subject?: string;
  /** A W3C traceparent to carry inside the event (headers carry it too when published by the bus). */
  traceparent?: string;
}

/**
 * Builds a CloudEvent of `subject` around `data` and validates it against its contract, so a producer
 * fails at the call, not a consumer later. Throws `EventError` (`SCHEMA_VIOLATION`) on invalid data.
 */
export function createEvent<S extends EventSubject>(
  subject: S,
  data: EventData<S>,
  options: CreateEventOptions,
): CloudEvent<S> {
  const time =
    options.time instanceof Date ? options.time.toISOString() : (options.time ?? new Date().toISOString());
  const event = {
    specversion: '1.0',
    id: options.id ?? randomUUID(),
    source: options.source,
    type: subject,
    time,
    datacontenttype: 'application/json',
    ...(options.subject === undefined ? {} : { subject: options.subject }),
    ...(options.traceparent === undefined ? {} : { traceparent: options.traceparent }),
    data,
  };
  const failure = validatorFor(subject).firstFailure(event);
  if (failure) throw failure;
  return event as CloudEvent<S>;
}
