import type { AddressInfo } from 'node:net';
import { createLogger, shutdownTelemetry, startTelemetry } from '@instantpost/telemetry';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import test, { type ExecutionContext } from 'ava';
import { createHttpApp } from '../src/index.ts';

const exporter = new InMemorySpanExporter();
test.before(() => {
  startTelemetry({ serviceName: 'http-trace-test', spanProcessors: [new SimpleSpanProcessor({ exporter })] });
});
test.after.always(() => shutdownTelemetry());

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

async function appWith(t: ExecutionContext, readTraceSampleEvery?: number) {
  const app = await createHttpApp({
    service: 'probe',
    logger: createLogger({ service: 'probe', level: 'silent' }),
    readiness: {},
    readTraceSampleEvery,
  });
  app.get('/v1/things/:id', async () => ({ ok: true }));
  app.post('/v1/things/:id', async () => ({ ok: true }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

const spanOf = (traceparent: string | null) => {
  const [, traceId, spanId] = TRACEPARENT.exec(traceparent ?? '') ?? [];
  return { traceId, span: exporter.getFinishedSpans().find((s) => s.spanContext().spanId === spanId) };
};

test('a write is always traced: the HTTP server span, named by its route, is the trace its response names', async (t) => {
  const base = await appWith(t);
  const ok = await fetch(`${base}/v1/things/7`, { method: 'POST' });
  const { traceId, span } = spanOf(ok.headers.get('traceparent'));
  t.truthy(traceId, 'a 200 carries traceparent');
  t.is(span?.spanContext().traceId, traceId, 'the server span of the request');
  t.is(span?.name, 'POST /v1/things/:id');
  t.is(span?.attributes['http.route'], '/v1/things/:id');
  t.is(span?.attributes['http.response.status_code'], 200);
  t.is(span?.attributes['url.path'], '/v1/things/7');
});

test("a read is traced when its caller sends a traceparent, continuing the caller's trace", async (t) => {
  const base = await appWith(t);
  const caller = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const continued = await fetch(`${base}/v1/things/8`, { headers: { traceparent: caller } });
  const tp = continued.headers.get('traceparent');
  t.regex(tp ?? '', /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/, "the caller's trace");
  const { span } = spanOf(tp);
  t.is(span?.name, 'GET /v1/things/:id');
  t.is(span?.parentSpanContext?.spanId, '00f067aa0ba902b7', "a child of the caller's span");
});

test('other reads are sampled (1 in readTraceSampleEvery); every response still names a trace', async (t) => {
  const base = await appWith(t, 3);
  const traced: boolean[] = [];
  for (let i = 0; i < 6; i++) {
    const res = await fetch(`${base}/v1/things/${i}`);
    const tp = res.headers.get('traceparent');
    t.regex(tp ?? '', TRACEPARENT);
    const { span } = spanOf(tp);
    traced.push(span !== undefined);
    if (span === undefined) t.true(tp?.endsWith('-00'), 'an untraced read names an unsampled trace');
  }
  t.deepEqual(traced, [false, false, true, false, false, true]);

  const every = await appWith(t, 1);
  t.truthy(spanOf((await fetch(`${every}/v1/things/1`)).headers.get('traceparent')).span, '1: every read');

  for (const path of ['/v1/nothing', '/healthz', '/metrics']) {
    const res = await fetch(`${every}${path}`);
    t.regex(res.headers.get('traceparent') ?? '', TRACEPARENT, `${path} (${res.status}) carries one too`);
  }
  const probe = spanOf((await fetch(`${every}/healthz`)).headers.get('traceparent'));
  t.is(probe.span, undefined, 'probes are never traced');
});
