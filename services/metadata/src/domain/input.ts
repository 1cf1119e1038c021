import { IdError, parseId } from '@instantpost/ids';
import { MetadataError, MetadataErrorCodes } from './errors.ts';

/** An id in a path (decimal string, within Postgres's bigint), else an `invalid` error naming the field. */
export function idParam(value: string, field = 'id'): bigint {
  try {
    return parseId(value, field);
  } catch (err) {
    if (err instanceof IdError)
      throw new MetadataError('invalid', MetadataErrorCodes.BadId, err.message, { field });
    throw err;
  }
}

export interface Page {
  limit: number;
  /** The last id of the previous page (exclusive bound), if any. */
  after: bigint | undefined;
}

/** A page from `?limit=` (1-100, checked by the route's schema) and `?cursor=` (a previous `nextCursor`). */
export function pageOf(query: { limit?: number | undefined; cursor?: string | undefined }): Page {
  const cursor = query.cursor;
  return {
    limit: query.limit ?? 20,
    after: cursor === undefined || cursor === '' ? undefined : decodeCursor(cursor),
  };
}

export function encodeCursor(id: string): string {
  return Buffer.from(`c:${id}`).toString('base64url');
}

function decodeCursor(raw: string): bigint {
  if (raw.length <= 64) {
    const text = Buffer.from(raw, 'base64url').toString('utf8');
    if (text.startsWith('c:')) {
      try {
        return parseId(text.slice(2));
      } catch {
        // fall through to the 400
      }
    }
  }
  throw new MetadataError('invalid', MetadataErrorCodes.BadCursor, 'cursor is not one this API gave out', {
    field: 'cursor',
  });
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
