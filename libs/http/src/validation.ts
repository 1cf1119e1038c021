import { Ajv, type ErrorObject, type Options } from 'ajv';
import type { FastifyError, FastifyInstance } from 'fastify';
import { TEXT_FORMAT } from './schemas.ts';

const COMMON: Options = {
  removeAdditional: false,
  useDefaults: true,
  allErrors: false,
  // One schema object (a shared TypeBox type) is compiled for many routes: never register it by $id.
  addUsedSchema: false,
};

function withFormats(ajv: Ajv): Ajv {
  ajv.addFormat(TEXT_FORMAT, {
    type: 'string',
    validate: (value: string) => value.isWellFormed() && !value.includes('\u0000'),
  });
  return ajv;
}

/**
 * JSON bodies are validated as sent: a number is not a string, `["bob"]` is not `"bob"`. Query strings,
 * path parameters and headers are strings by nature, so they are coerced to the schema's types
 * (`?limit=5` is the integer 5).
 */
export function registerValidation(app: FastifyInstance): void {
  const body = withFormats(new Ajv({ ...COMMON, coerceTypes: false }));
  const strings = withFormats(new Ajv({ ...COMMON, coerceTypes: 'array' }));
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? body : strings).compile(schema));
}

/**
 * The input a validation error is about: `/username` → `username`, a missing property by its name,
 * the whole part (`body`, `querystring`...) when the part itself is wrong (a body that is not an object).
 */
export function validationField(error: FastifyError): string | undefined {
  const first = error.validation?.[0];
  if (!first) return undefined;
  const params = first.params as { missingProperty?: string; additionalProperty?: string } | undefined;
  const path = first.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const named = [path, params?.missingProperty ?? params?.additionalProperty].filter(Boolean).join('.');
  return named || error.validationContext || undefined;
}

/** A validation message for a person: Ajv's, except where Ajv only names a custom format. */
export function validationMessage(error: FastifyError): string {
  const first = error.validation?.[0] as ErrorObject | undefined;
  if (!first) return error.message;
  if (first.keyword === 'format' && (first.params as { format?: string }).format === TEXT_FORMAT) {
    return 'must be well-formed Unicode text without NUL characters';
  }
  if (first.keyword === 'additionalProperties') return 'is not a known field';
  return first.message ?? 'is invalid';
}
