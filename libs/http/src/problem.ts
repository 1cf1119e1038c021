import type { FastifyError, FastifyInstance } from 'fastify';
import { reportRequestError } from './error-tracking.ts';
import { DomainError, type ErrorKind, HttpErrorCodes } from './errors.ts';
import type { Problem } from './schemas.ts';
import { isDependencyOutage } from './unavailable.ts';
import { validationField, validationMessage } from './validation.ts';

/** How long a client should wait before retrying after a dependency outage (Redis, Postgres restarts). */
const DEPENDENCY_RETRY_AFTER_SECONDS = 2;

/** The one place a kind of failure becomes an HTTP status. */
const STATUS_OF: Record<ErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported_type: 415,
  rate_limited: 429,
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

function problemType(status: number): string {
  return `https://instantpost.dev/problems/${status}`;
}

function problemOf(status: number, detail: string, code: string, field?: string): Problem {
  return {
    type: problemType(status),
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    ...(field === undefined ? {} : { field }),
  };
}

/**
 * One error handler for the whole app: everything leaves as application/problem+json; a `DomainError`
 * by its kind, a schema violation as a 400 naming the field, anything else by its status with 5xx
 * details hidden. Routes need no try/catch of their own.
 */
export function registerProblemHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | DomainError, request, reply) => {
    let problem: Problem;
    if (error instanceof DomainError) {
      problem = problemOf(STATUS_OF[error.kind], error.message, error.code, error.field);
      if (error.retryAfterSeconds !== undefined) {
        reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterSeconds))));
      }
    } else if (error.validation) {
      const field = validationField(error);
      const message = validationMessage(error);
      problem = problemOf(
        400,
        field ? `${field}: ${message}` : message,
        HttpErrorCodes.ValidationFailed,
        field,
      );
    } else if (isDependencyOutage(error)) {
      problem = problemOf(
        503,
        'a service this request needs is unavailable; try again shortly',
        HttpErrorCodes.DependencyUnavailable,
      );
      reply.header('retry-after', String(DEPENDENCY_RETRY_AFTER_SECONDS));
      request.log.warn({ err: error }, 'request failed: a dependency is unavailable');
    } else {
      const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
      problem =
        status >= 500
          ? problemOf(status, 'internal error', HttpErrorCodes.Internal)
          : problemOf(
              status,
              error.message,
              status === 429 ? HttpErrorCodes.RateLimited : (error.code ?? 'ERROR'),
            );
    }
    // A 503 is a dependency outage (or shutdown): metrics and alerts cover it, error tracking does not.
    if (problem.status >= 500 && problem.status !== 503) {
      request.log.error({ err: error }, 'request failed');
      const traceparent = reply.getHeader('traceparent');
      reportRequestError(error, {
        requestId: request.id,
        traceparent: typeof traceparent === 'string' ? traceparent : undefined,
        method: request.method,
        route: request.routeOptions.url,
        status: problem.status,
      });
    }
    problem.requestId = request.id;
    void reply.status(problem.status).type('application/problem+json').send(problem);
  });

  app.setNotFoundHandler((request, reply) => {
    const problem = problemOf(
      404,
      `no route for ${request.method} ${request.url.split('?')[0]}`,
      HttpErrorCodes.NotFound,
    );
    void reply
      .status(404)
      .type('application/problem+json')
      .send({ ...problem, requestId: request.id });
  });
}
