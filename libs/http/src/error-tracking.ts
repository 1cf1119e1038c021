/**
 * Error tracking, Sentry's role: with a DSN, unhandled errors of the process and 5xx answers (except 503
 * dependency outages, which are metrics and alerts, not bugs) are sent through `@sentry/node`, tagged with
 * the service, the release, the request id and the trace id. Sentry's own tracing and instrumentation are
 * off: OpenTelemetry (libs/telemetry) owns the spans, and Sentry only receives errors.
 */
import type * as SentryModule from '@sentry/node';

export interface ErrorTrackingOptions {
  /** `https://<key>@<host>/<project>`; nothing is set up without it. */
  dsn: string | undefined;
  service: string;
  release?: string | undefined;
  environment?: string | undefined;
}

/** What a report of a failed request names. */
export interface RequestErrorContext {
  requestId: string;
  /** The response's W3C traceparent (`00-<trace id>-<span id>-<flags>`). */
  traceparent?: string | undefined;
  method?: string | undefined;
  route?: string | undefined;
  status: number;
}

/** Loaded only with a DSN: importing @sentry/node costs ~0.35 s and ~40 MB at start-up. */
let Sentry: typeof SentryModule | undefined;
let tracked: { service: string; release: string | undefined } | undefined;

/**
 * Starts Sentry once per process when `dsn` is set (returns whether it did). Only the integrations that
 * report errors are installed: uncaught exceptions and unhandled rejections (both still end the process,
 * as Node would: `strict`), linked causes, source lines and the runtime's context. No tracing, no
 * OpenTelemetry setup, no module instrumentation.
 */
export async function startErrorTracking(options: ErrorTrackingOptions): Promise<boolean> {
  if (!options.dsn || tracked) return tracked !== undefined;
  Sentry = await import('@sentry/node');
  Sentry.initWithoutDefaultIntegrations({
    dsn: options.dsn,
    ...(options.release ? { release: options.release } : {}),
    ...(options.environment ? { environment: options.environment } : {}),
    serverName: options.service,
    enableOpenTelemetrySetup: false,
    enableRuntimeChannelInjection: false,
    integrations: [
      Sentry.onUncaughtExceptionIntegration(),
      Sentry.onUnhandledRejectionIntegration({ mode: 'strict' }),
      Sentry.linkedErrorsIntegration(),
      Sentry.contextLinesIntegration(),
      Sentry.nodeContextIntegration(),
    ],
    initialScope: {
      tags: { service: options.service, ...(options.release ? { release: options.release } : {}) },
    },
  });
  tracked = { service: options.service, release: options.release };
  return true;
}

/** The trace and span ids of a `traceparent`, if it is one. */
export function parseTraceparent(tp: string | undefined): { traceId: string; spanId: string } | undefined {
  const match = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-[\da-f]{2}$/.exec(tp ?? '');
  return match ? { traceId: match[1] as string, spanId: match[2] as string } : undefined;
}

/** Reports a request that ended in a 5xx (a no-op unless `startErrorTracking` started Sentry). */
export function reportRequestError(error: unknown, context: RequestErrorContext): void {
  const sentry = Sentry;
  if (!tracked || !sentry) return;
  const trace = parseTraceparent(context.traceparent);
  sentry.withScope((scope) => {
    scope.setTags({
      request_id: context.requestId,
      status: String(context.status),
      ...(trace ? { trace_id: trace.traceId } : {}),
      ...(context.route ? { route: context.route } : {}),
      ...(context.method ? { method: context.method } : {}),
    });
    // Sentry's trace context names the OpenTelemetry trace, so the event links to the same trace id.
    if (trace) scope.setContext('trace', { trace_id: trace.traceId, span_id: trace.spanId });
    sentry.captureException(error);
  });
}

/** Sends what is queued (before the process exits); true when everything went out in time. */
export async function flushErrorTracking(timeoutMs = 2000): Promise<boolean> {
  if (!tracked || !Sentry) return true;
  return Sentry.flush(timeoutMs);
}
