/**
 * Error tracking: a local HTTP server stands in for Sentry (the DSN points at it) and receives the
 * envelopes @sentry/node sends. A route that throws is reported with the request id, the trace id of the
 * response's traceparent, the service and the release; a 4xx and a 503 dependency outage send nothing.
 * A process's uncaught exception and unhandled rejection are reported before it exits.
 */
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { createLogger, shutdownTelemetry, startTelemetry } from '@instantpost/telemetry';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import test from 'ava';
import { createHttpApp, DomainError, flushErrorTracking, startErrorTracking } from '../src/index.ts';

interface Envelope {
  url: string;
  header: Record<string, unknown>;
  items: { header: Record<string, unknown>; payload: Record<string, unknown> }[];
}

const envelopes: Envelope[] = [];

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  return (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
}

/** Sentry's envelope: a header line, then an item header line and its payload line per item. */
function parseEnvelope(url: string, text: string): Envelope {
  const [first = '{}', ...rest] = text.split('\n').filter((line) => line.length > 0);
  const items: Envelope['items'] = [];
  for (let i = 0; i + 1 < rest.length; i += 2) {
    items.push({ header: JSON.parse(rest[i] as string), payload: JSON.parse(rest[i + 1] as string) });
  }
  return { url, header: JSON.parse(first), items };
}

const sentry = createServer((req, res) => {
  void bodyOf(req).then((text) => {
    envelopes.push(parseEnvelope(req.url ?? '', text));
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});

const events = (service?: string) =>
  envelopes
    .flatMap((e) => e.items.filter((i) => i.header.type === 'event').map((i) => i.payload))
    .filter((e) => service === undefined || (e.tags as Record<string, string>).service === service);

async function waitFor<T>(find: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test.before(async () => {
  startTelemetry({
    serviceName: 'sentry-test',
    spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })],
  });
  await new Promise<void>((resolve) => sentry.listen(0, '127.0.0.1', resolve));
  dsn = `http://public@127.0.0.1:${(sentry.address() as AddressInfo).port}/1`;
  started = await startErrorTracking({
    dsn,
    service: 'probe',
    release: 'probe@1.2.3',
    environment: 'test',
  });
});
let started = false;
let dsn = '';
test.after.always(async () => {
  await shutdownTelemetry();
  sentry.close();
});

test.serial(
  'a 5xx is reported with request id, trace id, service and release; a 4xx and a 503 are not',
  async (t) => {
    t.true(started, 'a DSN starts error tracking');
    const app = await createHttpApp({
      service: 'probe',
      logger: createLogger({ service: 'probe', level: 'silent' }),
      readiness: {},
    });
    app.get('/v1/boom/:id', async () => {
      throw new Error('the database row was not what the code expected');
    });
    app.get('/v1/missing', async () => {
      throw new DomainError('not_found', 'PROBE_NOT_FOUND', 'no such thing');
    });
    app.get('/v1/outage', async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    t.teardown(() => app.close());
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

    // The quiet cases first, flushed: nothing may arrive for them.
    t.is((await fetch(`${base}/v1/missing`)).status, 404);
    t.is((await fetch(`${base}/v1/outage`)).status, 503);
    t.is((await fetch(`${base}/v1/boom/7?x=1`, { method: 'POST' })).status, 404, 'no such route: a 404');
    t.true(await flushErrorTracking(5000));
    t.deepEqual(events('probe'), [], 'no event for a 4xx or a dependency outage');

    const res = await fetch(`${base}/v1/boom/7`, { headers: { 'x-request-id': 'req-boom-1' } });
    t.is(res.status, 500);
    const traceId = /^00-([0-9a-f]{32})-/.exec(res.headers.get('traceparent') ?? '')?.[1];
    t.truthy(traceId);
    t.true(await flushErrorTracking(5000));
    const event = await waitFor(() => events('probe')[0], 5000);
    if (!event) return t.fail('the stand-in DSN received no event');
    const envelope = envelopes.find((e) => e.items.some((i) => i.payload === event));
    t.is(envelope?.url.split('?')[0], '/api/1/envelope/', "the DSN's project's envelope endpoint");

    const tags = event.tags as Record<string, string>;
    t.is(tags.request_id, 'req-boom-1');
    t.is(tags.trace_id, traceId);
    t.is(tags.service, 'probe');
    t.is(tags.release, 'probe@1.2.3');
    t.is(tags.route, '/v1/boom/:id');
    t.is(tags.status, '500');
    t.is(event.release, 'probe@1.2.3');
    t.is(event.environment, 'test');
    t.is((event.contexts as { trace?: { trace_id?: string } }).trace?.trace_id, traceId);
    const exception = (event.exception as { values: { type: string; value: string }[] }).values.at(-1);
    t.is(exception?.type, 'Error');
    t.is(exception?.value, 'the database row was not what the code expected');
    t.is(events('probe').length, 1, 'one event for one failed request');
  },
);

for (const kind of ['exception', 'rejection'] as const) {
  test.serial(`an unhandled ${kind} of the process is reported, and the process still ends`, async (t) => {
    const child = spawn(
      process.execPath,
      ['--import=tsx', new URL('./fixtures/crash.ts', import.meta.url).pathname, kind],
      { env: { ...process.env, SENTRY_DSN: dsn }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    t.not(code, 0, 'the process exits with a failure, as Node would');
    const message = kind === 'exception' ? 'thrown outside any request' : 'nobody awaited this';
    const event = await waitFor(
      () =>
        events('crasher').find((e) =>
          (e.exception as { values: { value: string }[] } | undefined)?.values.some(
            (v) => v.value === message,
          ),
        ),
      5000,
    );
    if (!event) return t.fail(`no event for the ${kind}`);
    t.is((event.tags as Record<string, string>).service, 'crasher');
    t.is(event.release, 'crasher@9');
  });
}
