import { badRequest } from '@instantpost/http';
import { IdError, parseId } from '@instantpost/ids';

/** A JSON object body, or a 400 naming `body`. */
export function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('the body must be a JSON object', 'body');
  }
  return body as Record<string, unknown>;
}

/** Text that Postgres and every consumer can store: well-formed Unicode, no NUL. */
function assertStorableText(value: string, field: string): void {
  if (!value.isWellFormed()) throw badRequest(`${field} is not valid Unicode`, field);
  if (value.includes('\u0000')) throw badRequest(`${field} must not contain NUL characters`, field);
}

export interface TextRule {
  min?: number;
  max: number;
}

/** A required string field within bounds (length in code points). */
export function requiredString(body: Record<string, unknown>, field: string, rule: TextRule): string {
  const value = body[field];
  if (value === undefined || value === null) throw badRequest(`${field} is required`, field);
  return checkString(value, field, rule);
}

/** An optional string field (undefined when absent). */
export function optionalString(
  body: Record<string, unknown>,
  field: string,
  rule: TextRule,
): string | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  return checkString(value, field, rule);
}

export function optionalBoolean(body: Record<string, unknown>, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw badRequest(`${field} must be a boolean`, field);
  return value;
}

function checkString(value: unknown, field: string, rule: TextRule): string {
  if (typeof value !== 'string') throw badRequest(`${field} must be a string`, field);
  // Cheap bound before counting code points: a 10 MB string is refused without walking it twice.
  if (value.length > rule.max * 2) throw badRequest(`${field} must be at most ${rule.max} characters`, field);
  assertStorableText(value, field);
  const length = [...value].length;
  const min = rule.min ?? 0;
  if (length < min) {
    throw badRequest(
      min === 1 ? `${field} must not be empty` : `${field} must be at least ${min} characters`,
      field,
    );
  }
  if (length > rule.max) throw badRequest(`${field} must be at most ${rule.max} characters`, field);
  return value;
}

export const USERNAME = /^[a-z0-9._]{1,30}$/;

/** A username as the API accepts it: 1-30 of `[a-z0-9._]`. */
export function parseUsername(value: unknown, field = 'username'): string {
  if (value === undefined || value === null) throw badRequest(`${field} is required`, field);
  if (typeof value !== 'string') throw badRequest(`${field} must be a string`, field);
  if (!USERNAME.test(value)) {
    throw badRequest(`${field} must be 1-30 characters of a-z, 0-9, "." and "_"`, field);
  }
  return value;
}

/** An id in a path or body (decimal string), else 400 naming the field. */
export function idParam(value: unknown, field = 'id'): bigint {
  try {
    return parseId(value, field);
  } catch (err) {
    if (err instanceof IdError) throw badRequest(err.message, field);
    throw err;
  }
}

export interface Page {
  limit: number;
  /** The last id of the previous page (exclusive bound), if any. */
  after: bigint | undefined;
}

/** `?limit=` (1-100, default 20) and `?cursor=` (opaque, from a previous page's `nextCursor`). */
export function pageOf(query: unknown): Page {
  const q = (typeof query === 'object' && query !== null ? query : {}) as Record<string, unknown>;
  let limit = 20;
  if (q.limit !== undefined) {
    const raw = Array.isArray(q.limit) ? q.limit[0] : q.limit;
    if (typeof raw !== 'string' || !/^[0-9]{1,3}$/.test(raw) || Number(raw) < 1 || Number(raw) > 100) {
      throw badRequest('limit must be a whole number from 1 to 100', 'limit');
    }
    limit = Number(raw);
  }
  let after: bigint | undefined;
  if (q.cursor !== undefined && q.cursor !== '') {
    const raw = Array.isArray(q.cursor) ? q.cursor[0] : q.cursor;
    after = decodeCursor(raw);
  }
  return { limit, after };
}

export function encodeCursor(id: string): string {
  return Buffer.from(`c:${id}`).toString('base64url');
}

function decodeCursor(raw: unknown): bigint {
  if (typeof raw === 'string' && raw.length <= 64) {
    const text = Buffer.from(raw, 'base64url').toString('utf8');
    if (text.startsWith('c:')) {
      try {
        return parseId(text.slice(2));
      } catch {
        // fall through to the 400
      }
    }
  }
  throw badRequest('cursor is not one this API gave out', 'cursor');
}

/** A page of a list response. */
export interface Paged<T> {
  items: T[];
  nextCursor: string | null;
}

/** Shapes `rows` (fetched with limit + 1) into a page; `key` gives the cursor id of an item. */
export function paged<R, T>(
  rows: R[],
  limit: number,
  key: (row: R) => string,
  map: (rows: R[]) => T[],
): Paged<T> {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: map(page),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(key(last)) : null,
  };
}
