import { createRequire } from 'node:module';
import {
  type Attributes,
  type Context,
  context,
  type Link,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { AwsInstrumentation } from '@opentelemetry/instrumentation-aws-sdk';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace';

export interface TelemetryOptions {
  serviceName: string;
  /** OTLP/HTTP endpoint; spans are exported only when set. */
  otlpEndpoint?: string | undefined;
  /** Extra processors (tests use an in-memory exporter). */
  spanProcessors?: SpanProcessor[];
}

let sdk: NodeSDK | undefined;

/**
 * Starts the OpenTelemetry SDK once per process. Spans are always created, so trace ids reach logs and
 * message headers, but nothing is exported (no network, no batching) unless an OTLP endpoint is given.
 */
export function startTelemetry(options: TelemetryOptions): void {
  if (sdk) return;
  const processors: SpanProcessor[] = [...(options.spanProcessors ?? [])];
  if (options.otlpEndpoint) {
    processors.push(
      new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: tracesUrl(options.otlpEndpoint) }) }),
    );
  }
  sdk = new NodeSDK({
    serviceName: options.serviceName,
    spanProcessors: processors,
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: instrumentations(),
    textMapPropagator: new W3CTraceContextPropagator(),
    autoDetectResources: false,
  });
  sdk.start();
  // The HTTP instrumentation patches node:http when it is next required; a process that loaded it
  // before (a test building its app in-process) gets its servers traced from here on all the same.
  const require = createRequire(import.meta.url);
  require('node:http');
  require('node:https');
}

/**
 * HTTP client spans (S3 calls show as client spans), Redis commands and S3 operations. HTTP server spans
 * are libs/http's (`tracedRequestHandler` in http-server.ts: every write, sampled reads), not the HTTP
 * instrumentation's, which would wrap every incoming request. postgres.js has no OpenTelemetry
 * instrumentation.
 */
function instrumentations() {
  return [
    new HttpInstrumentation({
      disableIncomingRequestInstrumentation: true,
      // An outgoing call outside any trace (a library's own housekeeping) is not worth a trace of its own.
      requireParentforOutgoingSpans: true,
    }),
    new IORedisInstrumentation({ requireParentSpan: true }),
    new AwsInstrumentation({ suppressInternalInstrumentation: true }),
  ];
}

/**
 * Packages an instrumentation patches that services import straight from ES modules (see register.ts).
 * The AWS SDK's patched modules (@smithy/*) are required by its CommonJS build, so they need no hook.
 */
export const INSTRUMENTED_ESM_IMPORTS = ['ioredis'] as const;

function tracesUrl(endpoint: string): string {
  return endpoint.endsWith('/v1/traces') ? endpoint : `${endpoint.replace(/\/$/, '')}/v1/traces`;
}

/** Flushes and stops the SDK (on SIGTERM, after the last span). */
export async function shutdownTelemetry(): Promise<void> {
  const current = sdk;
  sdk = undefined;
  await current?.shutdown();
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The context to start the span in (e.g. one extracted from message headers); the active one otherwise. */
  parent?: Context;
  /**
   * Spans this one is caused by without being their child — e.g. a batch of messages handled in one span
   * links the trace of each message, so every request's trace still reaches the work its event caused.
   */
  links?: Link[];
}

/** Runs `work` inside a new active span; records an exception and marks the span failed if it throws. */
export async function withSpan<T>(
  name: string,
  work: (span: Span) => Promise<T> | T,
  options: SpanOptions = {},
): Promise<T> {
  const tracer = trace.getTracer('instantpost');
  const parent = options.parent ?? context.active();
  return tracer.startActiveSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
      ...(options.links ? { links: options.links } : {}),
    },
    parent,
    async (span) => {
      try {
        return await work(span);
      } catch (err) {
        span.recordException(err instanceof Error ? err : new Error(String(err)));
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: err instanceof Error ? err.message : String(err),
        });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/** The ids of the active span, for logs. */
export function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getSpan(context.active());
  const ctx = span?.spanContext();
  if (!ctx || !trace.isSpanContextValid(ctx)) return undefined;
  return { trace_id: ctx.traceId, span_id: ctx.spanId };
}

export { SpanKind };
