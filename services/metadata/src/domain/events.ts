import { type CloudEvent, createEvent, type EventData, type EventSubject } from '@instantpost/events';

export const EVENT_SOURCE = '/instantpost/metadata';

/** An event metadata produces, validated against its contract at creation. */
export function metadataEvent<S extends EventSubject>(
  subject: S,
  data: EventData<S>,
  about?: string,
): CloudEvent<S> {
  return createEvent(subject, data, {
    source: EVENT_SOURCE,
    ...(about === undefined ? {} : { subject: about }),
  });
}
