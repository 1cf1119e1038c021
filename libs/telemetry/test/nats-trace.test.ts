import { Writable } from 'node:stream';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import test from 'ava';
import { connect, headers } from 'nats';
import { pino } from 'pino';
import {
  activeTraceIds,
  contextFromTraceparent,
  extractTraceContext,
  injectTraceContext,
  shutdownTelemetry,
  startTelemetry,
  traceparentOf,
  withSpan,
} from '../src/index.ts';

const exporter = new InMemorySpanExporter();
let ns: TestNamespace;

test.before(async () => {
  startTelemetry({ serviceName: 'telemetry-test', spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  ns = await openNamespace();
});
test.after.always(async () => {
  await ns.close();
  await shutdownTelemetry();
  await stopTestInfra();
});

test('trace context survives a NATS round trip', async (t) => {
  const nc = await connect({ servers: ns.nats.servers });
  const subject = `${ns.nats.prefix}.trace.probe`;
  const sub = nc.subscribe(subject, { max: 1 });
  const received = (async () => {
    for await (const msg of sub) {
      const parent = extractTraceContext(msg.headers);
      return withSpan('handle', () => trace.getSpan(context.active())?.spanContext(), { parent });
    }
    return undefined;
  })();

  const sent = await withSpan('publish', () => {
    const h = headers();
    injectTraceContext(h);
    nc.publish(subject, 'x', { headers: h });
    return trace.getSpan(context.active())?.spanContext();
  });
  const handled = await received;
  await nc.drain();

  t.truthy(sent);
  t.is(handled?.traceId, sent?.traceId, 'the handler continues the publisher trace');
  t.not(handled?.spanId, sent?.spanId, 'the handler has its own span');
  const handleSpan = exporter.getFinishedSpans().find((s) => s.name === 'handle');
  t.is(handleSpan?.parentSpanContext?.spanId, sent?.spanId, 'the publish span is the parent');
});

test('a message without headers starts a new trace', async (t) => {
  const ctx = extractTraceContext(undefined);
  const ids = await withSpan('orphan', () => activeTraceIds(), { parent: ctx });
  t.regex(ids?.trace_id ?? '', /^[0-9a-f]{32}$/);
});

test('a stored traceparent continues the trace (outbox relay)', async (t) => {
  const { stored, traceId } = await withSpan('write', () => ({
    stored: traceparentOf(),
    traceId: activeTraceIds()?.trace_id,
  }));
  t.regex(stored ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  const relayed = await withSpan('relay', () => activeTraceIds(), { parent: contextFromTraceparent(stored) });
  t.is(relayed?.trace_id, traceId);
});

test('a failing span records the exception and rethrows', async (t) => {
  await t.throwsAsync(
    withSpan('boom', () => {
      throw new Error('kaput');
    }),
    { message: 'kaput' },
  );
  const span = exporter.getFinishedSpans().find((s) => s.name === 'boom');
  t.is(span?.status.code, 2);
  t.is(span?.events[0]?.name, 'exception');
});

test('log lines carry trace_id and span_id inside a span', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = pino({ mixin: () => activeTraceIds() ?? {} }, sink);
  const ids = await withSpan('logged', () => {
    logger.info('inside');
    return activeTraceIds();
  });
  logger.info('outside');
  const [inside, outside] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.is(inside?.trace_id, ids?.trace_id);
  t.is(inside?.span_id, ids?.span_id);
  t.is(outside?.trace_id, undefined);
});

test('a span can link the traces it was caused by (a batch of messages handled in one span)', async (t) => {
  const a = await withSpan('request a', (span) => span.spanContext());
  const b = await withSpan('request b', (span) => span.spanContext());
  const batch = await withSpan('batch', (span) => span.spanContext(), {
    links: [{ context: a }, { context: b }],
  });
  const exported = exporter.getFinishedSpans().find((s) => s.spanContext().spanId === batch.spanId);
  t.deepEqual(
    exported?.links.map((l) => l.context.traceId),
    [a.traceId, b.traceId],
  );
  t.not(batch.traceId, a.traceId, 'a trace of its own');
});
