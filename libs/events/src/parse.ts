import type { EventSubject } from './contracts/index.ts';
import { isEventSubject } from './contracts/index.ts';
import { type AnyCloudEvent, type CloudEvent, CloudEventCore } from './envelope.ts';
import { EventError, EventErrorCodes } from './errors.ts';
import { compile, validatorFor } from './validate.ts';

/** The outcome of `parseEvent`: the typed event, or why not (with what could be read of the payload). */
export type ParseResult<S extends EventSubject = EventSubject> =
  | { readonly ok: true; readonly event: CloudEvent<S> }
  | {
      readonly ok: false;
      readonly error: EventError;
      /** The payload as far as it could be read: the parsed JSON value, or the raw text when not JSON. */
      readonly payload: unknown;
    };

export interface ParseOptions<S extends EventSubject> {
  /**
   * The subject the payload arrived on (without any test prefix). When given, an event of another type
   * is refused with `TYPE_MISMATCH`, so `like.created` published on `post.published` is never handled.
   */
  expectedType?: S;
}

const core = compile(CloudEventCore, EventErrorCodes.NotCloudEvent);
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses and validates an incoming event (NATS message bytes or a string). Never throws: malformed input
 * is an answer (`ok: false`) with a precise reason — `BAD_JSON`, `NOT_CLOUDEVENT`, `UNKNOWN_TYPE`,
 * `TYPE_MISMATCH` or `SCHEMA_VIOLATION` with the JSON pointer of the offending field.
 */
export function parseEvent<S extends EventSubject = EventSubject>(
  input: Uint8Array | string,
  options: ParseOptions<S> = {},
): ParseResult<S> {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    try {
      text = decoder.decode(input);
    } catch (cause) {
      const raw = Buffer.from(input).toString('utf8');
      return fail(
        new EventError(EventErrorCodes.BadJson, 'payload is not valid UTF-8', '', [], { cause }),
        raw,
      );
    }
  }
  if (text.trim() === '') return fail(new EventError(EventErrorCodes.BadJson, 'payload is empty'), text);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    return fail(
      new EventError(EventErrorCodes.BadJson, `payload is not JSON: ${detail}`, '', [], { cause }),
      text,
    );
  }
  return validateEvent(json, options);
}

/** Like `parseEvent`, for a value already parsed from JSON. */
export function validateEvent<S extends EventSubject = EventSubject>(
  json: unknown,
  options: ParseOptions<S> = {},
): ParseResult<S> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return fail(
      new EventError(EventErrorCodes.NotCloudEvent, 'not a CloudEvent: the payload is not a JSON object'),
      json,
    );
  }
  const notCloudEvent = core.firstFailure(json);
  if (notCloudEvent) return fail(notCloudEvent, json);
  const envelope = json as { specversion: string; type: string };
  if (envelope.specversion !== '1.0') {
    return fail(
      new EventError(
        EventErrorCodes.NotCloudEvent,
        `not a CloudEvent 1.0: specversion is "${envelope.specversion}"`,
        '/specversion',
      ),
      json,
    );
  }
  const type = envelope.type;
  if (!isEventSubject(type)) {
    return fail(new EventError(EventErrorCodes.UnknownType, `unknown event type "${type}"`, '/type'), json);
  }
  if (options.expectedType !== undefined && type !== options.expectedType) {
    return fail(
      new EventError(
        EventErrorCodes.TypeMismatch,
        `event type "${type}" does not match its subject "${options.expectedType}"`,
        '/type',
      ),
      json,
    );
  }
  const violation = validatorFor(type).firstFailure(json);
  if (violation) return fail(violation, json);
  return { ok: true, event: json as CloudEvent<S> };
}

/** Narrows a parsed event to one subject (for code that holds an `AnyCloudEvent`). */
export function isEventOf<S extends EventSubject>(event: AnyCloudEvent, subject: S): event is CloudEvent<S> {
  return event.type === subject;
}

function fail(error: EventError, payload: unknown): { ok: false; error: EventError; payload: unknown } {
  return { ok: false, error, payload };
}
