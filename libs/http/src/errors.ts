/**
 * What kind of failure an error is, in words a domain knows. The HTTP edge (problem.ts) turns each kind into
 * its status; domain code never names a status. Imported by domain code through `@instantpost/http/errors`,
 * which loads no Fastify.
 */
export const ErrorKinds = [
  /** The input breaks a rule (a 400 naming `field`). */
  'invalid',
  /** No or bad credentials. */
  'unauthorized',
  /** Known caller, not allowed. */
  'forbidden',
  /** Does not exist, or the caller may not see it. */
  'not_found',
  /** Clashes with the current state (a taken name...). */
  'conflict',
  /** More bytes than accepted. */
  'too_large',
  /** A kind of content that is not accepted. */
  'unsupported_type',
  /** Too many tries: wait `retryAfterSeconds`. */
  'rate_limited',
] as const;

export type ErrorKind = (typeof ErrorKinds)[number];

export interface DomainErrorOptions {
  /** The input field at fault (`invalid` errors). */
  field?: string | undefined;
  /** How long the caller should wait before trying again (`rate_limited`). */
  retryAfterSeconds?: number | undefined;
  cause?: unknown;
}

/**
 * The one base of every error meant for the caller, thrown by domain code in every service. `code` is a
 * stable value from the thrower's `as const` code map (`{ UsernameTaken: 'METADATA_USERNAME_TAKEN' }`),
 * `message` is written for a person and becomes the problem's `detail`.
 */
export class DomainError<C extends string = string> extends Error {
  override readonly name: string = 'DomainError';
  readonly kind: ErrorKind;
  readonly code: C;
  readonly field: string | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(kind: ErrorKind, code: C, message: string, options: DomainErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.code = code;
    this.field = options.field;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** Codes of the failures the HTTP edge itself reports (auth, validation, unknown routes). */
export const HttpErrorCodes = {
  /** No token, a malformed, expired, foreign or revoked one. */
  Unauthorized: 'UNAUTHORIZED',
  /** The request breaks its route's schema. */
  ValidationFailed: 'VALIDATION_FAILED',
  /** The body is not JSON, or not UTF-8. */
  MalformedBody: 'MALFORMED_BODY',
  /** No route for the method and path. */
  NotFound: 'NOT_FOUND',
  /** A route's rate limit (`config.rateLimit`). */
  RateLimited: 'TOO_MANY_REQUESTS',
  /** A dependency (database, cache, broker, object store) is down or too slow: 503, try again. */
  DependencyUnavailable: 'DEPENDENCY_UNAVAILABLE',
  /** Anything unexpected: a 500 whose message is hidden. */
  Internal: 'INTERNAL',
} as const;

export type HttpErrorCode = (typeof HttpErrorCodes)[keyof typeof HttpErrorCodes];

/** The 401 of the auth hooks. */
export const unauthorized = (detail = 'missing or invalid access token') =>
  new DomainError('unauthorized', HttpErrorCodes.Unauthorized, detail);

export { isDependencyOutage } from './unavailable.ts';
