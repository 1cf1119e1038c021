import { type DestinationStream, type Logger, pino } from 'pino';
import { activeTraceIds } from './tracing.ts';

export type { Logger };

export interface LoggerOptions {
  service: string;
  level?: string;
  /** Where lines go; standard output when not given (tests keep them). */
  destination?: DestinationStream;
}

/** Paths never written to logs. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'password',
  '*.password',
  'refreshToken',
  '*.refreshToken',
  'accessToken',
  '*.accessToken',
];

/** The request as access lines show it: the path without its query string, which may carry a token. */
interface LoggedRequest {
  method?: string;
  url?: string;
  socket?: { remoteAddress?: string };
  ip?: string;
}

export function serializeRequest(req: LoggedRequest): Record<string, unknown> {
  return {
    method: req.method,
    path: typeof req.url === 'string' ? req.url.split('?', 1)[0] : undefined,
    remoteAddress: req.ip ?? req.socket?.remoteAddress,
  };
}

/** A pino JSON logger whose every line carries the active `trace_id` and `span_id`. */
export function createLogger(options: LoggerOptions): Logger {
  const settings = {
    level: options.level ?? 'info',
    base: { service: options.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { req: serializeRequest },
    mixin: () => activeTraceIds() ?? {},
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
