/** Error codes that reach HTTP, each with its status. */
export const HttpErrorCodes = {
  badRequest: { code: 'BAD_REQUEST', status: 400, title: 'Bad Request' },
  unauthorized: { code: 'UNAUTHORIZED', status: 401, title: 'Unauthorized' },
  forbidden: { code: 'FORBIDDEN', status: 403, title: 'Forbidden' },
  notFound: { code: 'NOT_FOUND', status: 404, title: 'Not Found' },
  conflict: { code: 'CONFLICT', status: 409, title: 'Conflict' },
  payloadTooLarge: { code: 'PAYLOAD_TOO_LARGE', status: 413, title: 'Payload Too Large' },
  unsupportedMediaType: { code: 'UNSUPPORTED_MEDIA_TYPE', status: 415, title: 'Unsupported Media Type' },
  tooManyRequests: { code: 'TOO_MANY_REQUESTS', status: 429, title: 'Too Many Requests' },
  unavailable: { code: 'SERVICE_UNAVAILABLE', status: 503, title: 'Service Unavailable' },
} as const;

export type HttpErrorKind = keyof typeof HttpErrorCodes;

/**
 * An error meant for the client: it becomes `application/problem+json` with its status.
 * `field` names the offending input for 400s; `headers` are added to the reply (e.g. Retry-After).
 */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly code: string;
  readonly status: number;
  readonly title: string;
  constructor(
    kind: HttpErrorKind,
    readonly detail: string,
    readonly extra: { field?: string; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(detail, extra.cause === undefined ? undefined : { cause: extra.cause });
    const spec = HttpErrorCodes[kind];
    this.code = spec.code;
    this.status = spec.status;
    this.title = spec.title;
  }
}

export const badRequest = (detail: string, field?: string) =>
  new HttpError('badRequest', detail, field === undefined ? {} : { field });
export const unauthorized = (detail = 'missing or invalid access token') =>
  new HttpError('unauthorized', detail);
export const forbidden = (detail = 'not allowed') => new HttpError('forbidden', detail);
export const notFound = (detail = 'not found') => new HttpError('notFound', detail);
export const conflict = (detail: string) => new HttpError('conflict', detail);
