import { type Context, context, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { MsgHdrs } from 'nats';

const propagator = new W3CTraceContextPropagator();

const setter: TextMapSetter<MsgHdrs> = {
  set: (headers, key, value) => headers.set(key, value),
};

const getter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (headers) => (headers ? [...headers.keys()] : []),
  get: (headers, key) => {
    if (!headers?.has(key)) return undefined;
    return headers.get(key);
  },
};

/** Writes the W3C `traceparent` (and `tracestate`) of `ctx` into NATS message headers. */
export function injectTraceContext(headers: MsgHdrs, ctx: Context = context.active()): void {
  propagator.inject(ctx, headers, setter);
}

/**
 * The context carried by NATS message headers. A message without headers (what `nats pub` sends)
 * gives the root context, so its handler starts a new trace — handled like any other message.
 */
export function extractTraceContext(headers: MsgHdrs | undefined, base: Context = context.active()): Context {
  return propagator.extract(base, headers, getter);
}

/** The `traceparent` of `ctx`, to store beside an outbox row so the relay can continue the trace. */
export function traceparentOf(ctx: Context = context.active()): string | undefined {
  const carrier: Record<string, string> = {};
  propagator.inject(ctx, carrier, {
    set: (c, k, v) => {
      c[k] = v;
    },
  });
  return carrier.traceparent;
}

/** The context of a stored `traceparent`. */
export function contextFromTraceparent(
  traceparent: string | null | undefined,
  base: Context = context.active(),
): Context {
  if (!traceparent) return base;
  return propagator.extract(
    base,
    { traceparent },
    {
      keys: (c) => Object.keys(c),
      get: (c, k) => c[k as keyof typeof c],
    },
  );
}
