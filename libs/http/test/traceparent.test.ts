import type { AddressInfo } from 'node:net';
import { createLogger, shutdownTelemetry, startTelemetry } from '@instantpost/telemetry';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import test from 'ava';
import { createHttpApp } from '../src/index.ts';

const exporter = new InMemorySpanExporter();
test.before(() => {
  startTelemetry({ serviceName: 'http-trace-test', spanProcessors: [new SimpleSpanProcessor({ exporter })] });
});
test.after.always(() => shutdownTelemetry());

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

test('every response names its trace: the HTTP server span, named by its route', async (t) => {
  const app = await createHttpApp({
    service: 'probe',
    logger: createLogger({ service: 'probe', level: 'silent' }),
    readiness: {},
  });
  app.get('/v1/things/:id', async () => ({ ok: true }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  const ok = await fetch(`${base}/v1/things/7`);
  const [, traceId, spanId] = TRACEPARENT.exec(ok.headers.get('traceparent') ?? '') ?? [];
  t.truthy(traceId, 'a 200 carries traceparent');
  const span = exporter.getFinishedSpans().find((s) => s.spanContext().spanId === spanId);
  t.is(span?.spanContext().traceId, traceId, 'the server span of the request');
  t.is(span?.name, 'GET /v1/things/:id');
  t.is(span?.attributes['http.route'], '/v1/things/:id');

  const caller = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const continued = await fetch(`${base}/v1/things/8`, { headers: { traceparent: caller } });
  t.regex(
    continued.headers.get('traceparent') ?? '',
    /^00-4bf92f3577b34da6a3ce929d0e0e4736-/,
    "the caller's trace",
  );

  for (const path of ['/v1/nothing', '/healthz', '/metrics']) {
    const res = await fetch(`${base}${path}`);
    t.regex(res.headers.get('traceparent') ?? '', TRACEPARENT, `${path} (${res.status}) carries one too`);
  }
});
