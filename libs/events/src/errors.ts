/** Every way an incoming payload can fail to be an InstantPost event, as stable codes. */
export const EventErrorCodes = {
  /** Not UTF-8 JSON (empty, truncated, binary...). */
  BadJson: 'BAD_JSON',
  /** JSON, but not a CloudEvents 1.0 structured envelope (`specversion`, `id`, `source`, `type`). */
  NotCloudEvent: 'NOT_CLOUDEVENT',
  /** A CloudEvent whose `type` is not in the contract map. */
  UnknownType: 'UNKNOWN_TYPE',
  /** A known `type` arriving on another subject than its own. */
  TypeMismatch: 'TYPE_MISMATCH',
  /** The envelope or `data` breaks the schema of its type; `path` says where. */
  SchemaViolation: 'SCHEMA_VIOLATION',
} as const;

export type EventErrorCode = (typeof EventErrorCodes)[keyof typeof EventErrorCodes];

/** One schema violation: a JSON pointer into the event (`/data/mediaId`) and what is wrong there. */
export interface EventIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * Why a payload is not a valid event. `path` is the JSON pointer of the first issue (empty for the
 * whole document); `issues` lists up to ten of them. Never thrown by `parseEvent` (it returns it);
 * thrown by `createEvent` when a producer builds an invalid event.
 */
export class EventError extends Error {
  override readonly name = 'EventError';

  readonly code: EventErrorCode;
  readonly path: string;
  readonly issues: readonly EventIssue[];

  constructor(
    code: EventErrorCode,
    message: string,
    path = '',
    issues: readonly EventIssue[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
    this.path = path;
    this.issues = issues;
  }
}
