import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import type { EventSubject } from './contracts/index.ts';
import { envelopeSchema } from './envelope.ts';
import { EventError, EventErrorCodes, type EventIssue } from './errors.ts';

const MAX_ISSUES = 10;

/** A compiled check of one schema that reports violations as an `EventError` with JSON pointers. */
export interface Validator {
  check(value: unknown): boolean;
  /** `undefined` when valid; otherwise the violations (first one in `path`/`message`). */
  firstFailure(value: unknown): EventError | undefined;
}

export function compile(
  schema: TSchema,
  code: EventError['code'] = EventErrorCodes.SchemaViolation,
): Validator {
  let compiled: TypeCheck<TSchema> | undefined;
  const get = () => {
    compiled ??= TypeCompiler.Compile(schema);
    return compiled;
  };
  return {
    check: (value) => get().Check(value),
    firstFailure(value) {
      const check = get();
      if (check.Check(value)) return undefined;
      const issues: EventIssue[] = [];
      const seen = new Set<string>();
      for (const error of check.Errors(value)) {
        if (seen.has(error.path)) continue;
        seen.add(error.path);
        issues.push({ path: error.path, message: error.message });
        if (issues.length >= MAX_ISSUES) break;
      }
      const first = issues[0] ?? { path: '', message: 'invalid' };
      const where = first.path === '' ? 'the document' : first.path;
      const label = code === EventErrorCodes.NotCloudEvent ? 'not a CloudEvent' : 'schema violation';
      return new EventError(code, `${label} at ${where}: ${first.message}`, first.path, issues);
    },
  };
}

const validators = new Map<EventSubject, Validator>();

/** The (lazily compiled, cached) validator of the full envelope of `subject`. */
export function validatorFor(subject: EventSubject): Validator {
  let v = validators.get(subject);
  if (!v) {
    v = compile(envelopeSchema(subject));
    validators.set(subject, v);
  }
  return v;
}
