/**
 * @instantpost/events — the event contracts of InstantPost: one TypeBox schema per subject, the
 * CloudEvents 1.0 envelope, `createEvent` for producers and `parseEvent` for consumers.
 */
export {
  BlurHash,
  EVENT_SUBJECTS,
  EventContracts,
  type EventData,
  type EventSubject,
  Id,
  isEventSubject,
  Mention,
  NotificationType,
  PostMedia,
  Rendition,
  SCHEMA_VERSION,
  Timestamp,
} from './contracts/index.ts';
export { type CreateEventOptions, createEvent } from './create.ts';
export {
  type AnyCloudEvent,
  type CloudEvent,
  CloudEventCore,
  envelopeSchema,
  TraceParent,
} from './envelope.ts';
export { EventError, type EventErrorCode, EventErrorCodes, type EventIssue } from './errors.ts';
export { renderSchemas, SCHEMAS_DIR, schemaFileName } from './gen-schemas.ts';
export { isEventOf, type ParseOptions, type ParseResult, parseEvent, validateEvent } from './parse.ts';
