import { randomFillSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type Attributes,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';

/** Which incoming requests get an HTTP server span (see `tracedRequestHandler`). */
export interface ServerTracingOptions {
  /**
   * A GET or HEAD that carries no `traceparent` is traced once in this many (default 100; 1 traces every
   * read, 0 none). Every other request is traced.
   */
  readSampleEvery?: number | undefined;
}

/** Probes and scrapes would be most of the spans and none of the interest. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

const serverSpans = new WeakMap<IncomingMessage, Span>();

/**
 * Wraps a Node request handler (Fastify's `serverFactory` hands one over) so that the requests worth a
 * trace run inside an HTTP server span, continuing the caller's `traceparent`:
 *
 * - every request that can change something (any method but GET and HEAD) — the trace every event it
 *   causes continues (outbox → NATS → consumers), so writes are always linked to their events;
 * - every GET or HEAD whose caller sent a `traceparent` (a client that traces gets its trace);
 * - one in `readSampleEvery` of the other reads, so read latency still shows in traces.
 *
 * The other reads run with no span and no context switch at all: on a hot read the span, its context
 * propagation (AsyncLocalStorage) and the bound request/response emitters were a fifth of the process's
 * CPU. Reads cause no events, so no request-to-event link is lost; their log lines carry the request id
 * (and a trace id only where a span exists). Probes (/healthz, /readyz, /metrics) are never traced.
 */
export function tracedRequestHandler(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: ServerTracingOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const every = options.readSampleEvery ?? 100;
  let reads = 0;
  const tracer = trace.getTracer('instantpost-http');
  return (req, res) => {
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD') {
      if (req.headers.traceparent === undefined) {
        if (every <= 0 || ++reads < every) return handler(req, res);
        reads = 0;
      }
    }
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    // The path only: a query string may carry a token (EventSource's ?access_token=).
    const path = query === -1 ? url : url.slice(0, query);
    if (UNTRACED_PATHS.has(path)) return handler(req, res);
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const attributes: Attributes = {
      'http.request.method': method,
      'url.path': path,
      'url.scheme': 'http',
      'network.protocol.version': req.httpVersion,
    };
    const address = req.socket.remoteAddress;
    if (address) attributes['network.peer.address'] = address;
    const agent = req.headers['user-agent'];
    if (agent) attributes['user_agent.original'] = agent;
    const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes }, parent);
    serverSpans.set(req, span);
    let ended = false;
    const end = (err?: Error) => {
      if (ended) return;
      ended = true;
      const status = res.statusCode;
      span.setAttribute('http.response.status_code', status);
      if (err) span.recordException(err);
      if (status >= 500 || err) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
    res.once('finish', () => end());
    res.once('close', () => end(res.writableFinished ? undefined : new Error('connection closed early')));
    const active = trace.setSpan(parent, span);
    context.with(active, () => {
      // A body arrives in later events of the socket: they run in the span's context too.
      context.bind(active, req);
      context.bind(active, res);
      handler(req, res);
    });
  };
}

/**
 * Gives the request's HTTP server span (when it has one) its route template (`http.route`) and names it
 * `POST /v1/media`: the span knows the URL, the router knows the route.
 */
export function setHttpRoute(req: IncomingMessage, route: string): void {
  const span = serverSpans.get(req);
  if (!span) return;
  span.setAttribute('http.route', route);
  span.updateName(`${req.method ?? 'GET'} ${route}`);
}

/**
 * The `traceparent` a response carries: its server span's, or, for a request with no span (an unsampled
 * read, a probe, a process without the SDK), a fresh trace id flagged not sampled, so every response still
 * names a trace.
 */
export function responseTraceparent(req: IncomingMessage): string {
  const ctx = serverSpans.get(req)?.spanContext();
  if (ctx && trace.isSpanContextValid(ctx))
    return `00-${ctx.traceId}-${ctx.spanId}-${ctx.traceFlags & 1 ? '01' : '00'}`;
  return unsampledTraceparent();
}

// Random ids for the responses of untraced requests, cut from a pool filled 4 KB at a time (one
// randomBytes call per request was ~1 % of a hot read).
const pool = Buffer.alloc(4096);
let used = pool.length;

function unsampledTraceparent(): string {
  if (used + 24 > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const at = used;
  used += 24;
  return `00-${pool.toString('hex', at, at + 16)}-${pool.toString('hex', at + 16, at + 24)}-00`;
}
