import { type Static, type TSchema, Type } from '@sinclair/typebox';

/**
 * Building blocks of the routes' TypeBox schemas, shared so every service describes ids, texts, pages and
 * errors the same way (and the merged OpenAPI document has one `Problem`).
 */

/** The body of every error reply (RFC 9457), referenced by every route's error responses. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'a URI naming the kind of problem' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String({ description: 'what went wrong, for a person' }),
    code: Type.String({ description: 'a stable code to branch on' }),
    field: Type.Optional(Type.String({ description: 'the input at fault (400)' })),
    requestId: Type.Optional(Type.String()),
  },
  { $id: 'Problem', description: 'application/problem+json (RFC 9457)' },
);

export type Problem = Static<typeof ProblemSchema>;

/** The error statuses a route may answer with, each with what it means in this API. */
const PROBLEMS = {
  400: 'invalid input (`field` names it)',
  401: 'no or bad access token',
  403: 'not allowed',
  404: 'not found, or not visible to the caller',
  409: 'conflict',
  413: 'too large',
  415: 'unsupported media type',
  429: 'rate limited (see Retry-After)',
} as const;

export type ProblemStatus = keyof typeof PROBLEMS;

const SUCCESS: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content' };

/**
 * The form fields of a multipart route, for the OpenAPI document only: Fastify does not validate a
 * streamed multipart body, the route reads its parts itself. Spread into the route's `schema`.
 */
export const multipartBody = (fields: TSchema) => ({
  [MULTIPART_BODY]: fields,
  consumes: ['multipart/form-data'],
});

/** Where `multipartBody` keeps the fields (read by the OpenAPI generator's transform). */
export const MULTIPART_BODY = 'x-multipart-body';

/** Format of `Text`: well-formed Unicode (no lone surrogates) without NUL, which Postgres cannot store. */
export const TEXT_FORMAT = 'text';

/** Free text as people write it; lengths count Unicode code points (as Ajv counts them). */
export const Text = (options: { minLength?: number; maxLength: number; description?: string }) =>
  Type.String({ ...options, format: TEXT_FORMAT });

/** An InstantPost id: a decimal string (64-bit ids do not fit a JSON number). */
export const Id = (options: { description?: string } = {}) =>
  Type.String({ pattern: '^(0|[1-9][0-9]{0,18})$', ...options });

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** `?cursor=&limit=` of every list (the cursor is opaque: each route decodes its own). */
export const PageQuery = Type.Object({
  cursor: Type.Optional(Type.String({ maxLength: 200, description: 'nextCursor of the previous page' })),
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'items per page' }),
  ),
});

export type PageQuery = Static<typeof PageQuery>;

/** A page of a list: `{ items, nextCursor }`, plus whatever else the list carries. */
export const Page = <T extends TSchema>(item: T, description?: string) =>
  Type.Object(
    { items: Type.Array(item), nextCursor: Nullable(Type.String()) },
    description === undefined ? {} : { description },
  );

/** A 204 reply: no body. */
export const NoContent = Type.Null({ description: 'No Content' });

/** A reply described per content type (problem+json, an event stream) rather than by one JSON schema. */
export interface ContentReply {
  description: string;
  content: Record<string, { schema: TSchema }>;
}

/**
 * A route's `response` schemas: its successes (a schema each, `NoContent` for 204, a `ContentReply` for
 * what is not JSON) and the problem+json replies it can give. Errors reach the client through the problem
 * handler, serialized with `Problem`.
 */
export function replies(
  success: Record<number, TSchema | ContentReply>,
  ...problems: ProblemStatus[]
): Record<number, TSchema | ContentReply> {
  const out: Record<number, TSchema | ContentReply> = {};
  for (const [status, reply] of Object.entries(success)) {
    // The OpenAPI generator takes a reply's description from its schema ("Default Response" otherwise).
    out[Number(status)] = reply.description
      ? reply
      : { ...reply, description: SUCCESS[Number(status)] ?? 'OK' };
  }
  for (const status of problems) {
    out[status] = {
      description: PROBLEMS[status],
      content: { 'application/problem+json': { schema: Type.Ref(ProblemSchema) } },
    };
  }
  return out;
}

/** `security` of a route that needs a bearer token. */
export const BEARER: Array<Record<string, string[]>> = [{ bearer: [] }];
/** `security` of a route that takes a bearer token but also answers anonymous callers. */
export const OPTIONAL_BEARER: Array<Record<string, string[]>> = [{ bearer: [] }, {}];
