import { randomBytes } from 'node:crypto';
import { context } from '@opentelemetry/api';
import { getRPCMetadata, RPCType } from '@opentelemetry/core';
import { traceparentOf } from './nats-headers.ts';

/**
 * Gives the active HTTP server span its route template (`http.route`), which also names the span
 * `POST /v1/media` when the response ends. The HTTP instrumentation knows the URL, not the route.
 */
export function setHttpRoute(route: string): void {
  const metadata = getRPCMetadata(context.active());
  if (metadata?.type === RPCType.HTTP) metadata.route = route;
}

/**
 * The `traceparent` a response carries: the active server span's. A request with no span (a probe,
 * or a process without the SDK) gets a fresh trace id flagged not sampled, so every response still
 * names a trace.
 */
export function responseTraceparent(): string {
  return traceparentOf() ?? `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00`;
}
