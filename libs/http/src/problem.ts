import type { FastifyError, FastifyInstance } from 'fastify';
import { HttpError } from './errors.ts';

/** The body of every error reply (RFC 9457). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  field?: string;
  requestId?: string;
}

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

/** Names the field of a Fastify/Ajv validation error: `body.username` → `username`. */
function validationField(error: FastifyError): string | undefined {
  const first = error.validation?.[0];
  if (!first) return undefined;
  const missing = (first.params as { missingProperty?: string } | undefined)?.missingProperty;
  const path = first.instancePath.replace(/^\//, '').replaceAll('/', '.');
  return [path, missing].filter(Boolean).join('.') || undefined;
}

/** One error handler for the whole app: everything leaves as application/problem+json; 5xx details are hidden. */
export function registerProblemHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | HttpError, request, reply) => {
    let problem: Problem;
    if (error instanceof HttpError) {
      problem = {
        type: problemType(error.status),
        title: error.title,
        status: error.status,
        detail: error.detail,
        code: error.code,
        ...(error.extra.field ? { field: error.extra.field } : {}),
      };
      for (const [k, v] of Object.entries(error.extra.headers ?? {})) reply.header(k, v);
    } else if (error.validation) {
      const field = validationField(error);
      problem = {
        type: problemType(400),
        title: 'Bad Request',
        status: 400,
        detail: field ? `${field}: ${error.validation[0]?.message ?? 'invalid'}` : error.message,
        code: 'VALIDATION_FAILED',
        ...(field ? { field } : {}),
      };
    } else {
      const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
      problem = {
        type: problemType(status),
        title: TITLES[status] ?? 'Error',
        status,
        detail: status >= 500 ? 'internal error' : error.message,
        code: status >= 500 ? 'INTERNAL' : (error.code ?? 'ERROR'),
      };
    }
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
    problem.requestId = request.id;
    void reply.status(problem.status).type('application/problem+json').send(problem);
  });

  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .type('application/problem+json')
      .send({
        type: problemType(404),
        title: 'Not Found',
        status: 404,
        detail: `no route for ${request.method} ${request.url.split('?')[0]}`,
        code: 'NOT_FOUND',
        requestId: request.id,
      } satisfies Problem);
  });
}
