export {
  responseTraceparent,
  type ServerTracingOptions,
  setHttpRoute,
  tracedRequestHandler,
} from './http-server.ts';
export { createLogger, type Logger, type LoggerOptions, REDACTED_PATHS } from './logger.ts';
export {
  contextFromTraceparent,
  extractTraceContext,
  injectTraceContext,
  traceparentOf,
} from './nats-headers.ts';
export {
  activeTraceIds,
  SpanKind,
  type SpanOptions,
  shutdownTelemetry,
  startTelemetry,
  type TelemetryOptions,
  withSpan,
} from './tracing.ts';
