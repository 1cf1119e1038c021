import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  activeTraceIds,
  shutdownTelemetry,
  startTelemetry,
  tracedRequestHandler,
} from '@instantpost/telemetry';
import { stopTestInfra } from '@instantpost/testing';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import test from 'ava';
import {
  createPublisher,
  defineConsumer,
  enqueue,
  NonRetryableError,
  startConsumer,
  startOutboxRelay,
} from '../src/index.ts';
import { type Fixture, fast, openFixture, readDeadLetters, sampleEvent, silent, waitFor } from './helpers.ts';

const exporter = new InMemorySpanExporter();
let fx: Fixture;
test.before(async () => {
  startTelemetry({ serviceName: 'bus-trace-test', spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  fx = await openFixture();
});
test.after.always(async () => {
  await fx?.close();
  await shutdownTelemetry();
  await stopTestInfra();
});

type Ids = { trace_id: string; span_id: string } | undefined;

/**
 * Runs `work` in the handler of a real HTTP write request: the server span of libs/telemetry's
 * `tracedRequestHandler` (what every service's writes get) is the active span, and its ids are answered.
 */
async function inRequest(work: () => Promise<unknown>): Promise<Ids> {
  const server = createServer(
    tracedRequestHandler((_req, res) => {
      work().then(
        () => res.end(JSON.stringify(activeTraceIds() ?? null)),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
      method: 'POST',
    });
    if (!res.ok) throw new Error(await res.text());
    return (await res.json()) as Ids;
  } finally {
    server.close();
  }
}

type Seen = { eventId: string; traceId: string | undefined; spanId: string | undefined };

async function tracingConsumer(prefix: string, name: string, failWith?: Error) {
  const seen: Seen[] = [];
  const runner = await startConsumer({
    nc: fx.nc,
    prefix,
    logger: silent,
    definition: defineConsumer({
      name,
      subjects: ['post.published'],
      handlers: {
        'post.published': async (event) => {
          const ids = activeTraceIds();
          seen.push({ eventId: event.id, traceId: ids?.trace_id, spanId: ids?.span_id });
          if (failWith) throw failWith;
        },
      },
      settings: fast,
    }),
  });
  return { seen, runner };
}

test.serial('one trace from publish to handler: request → publish → consume spans', async (t) => {
  const prefix = await fx.isolate();
  const { seen, runner } = await tracingConsumer(prefix, 'feed-trace');
  t.teardown(() => runner.stop());
  const publisher = createPublisher({ nc: fx.nc, prefix });
  const event = sampleEvent('post.published');
  const request = await inRequest(() => publisher.publish(event));
  const [handled] = await waitFor('handled', () => (seen.length ? seen : undefined));
  t.is(handled?.traceId, request?.trace_id, 'the handler continues the request trace');

  const spans = exporter.getFinishedSpans();
  const publish = spans.find(
    (s) => s.name === 'publish post.published' && s.spanContext().traceId === request?.trace_id,
  );
  const consume = await waitFor('consumer span ended', () =>
    exporter
      .getFinishedSpans()
      .find((s) => s.name === 'feed-trace post.published' && s.spanContext().traceId === request?.trace_id),
  );
  t.is(publish?.parentSpanContext?.spanId, request?.span_id, 'publish is a child of the request');
  t.is(consume.parentSpanContext?.spanId, publish?.spanContext().spanId, 'consume is a child of publish');
  t.is(handled?.spanId, consume.spanContext().spanId, 'the handler runs inside the consumer span');
});

test.serial('one trace across the outbox: the relay continues the trace stored with the row', async (t) => {
  const prefix = await fx.isolate();
  const shard = await fx.shard();
  const { seen, runner } = await tracingConsumer(prefix, 'feed-outbox-trace');
  t.teardown(() => runner.stop());
  const event = sampleEvent('post.published');
  const request = await inRequest(() => shard.sql.begin((tx) => enqueue(tx, shard.schema, event)));
  const [stored] = await shard.sql.unsafe<{ traceparent: string; payload: string }[]>(
    `SELECT traceparent, payload FROM "${shard.schema}".outbox WHERE event_id = $1`,
    [event.id],
  );
  t.is(
    stored?.traceparent,
    `00-${request?.trace_id}-${request?.span_id}-01`,
    'traceparent stored with the row',
  );
  t.is(
    (JSON.parse(stored?.payload ?? '{}') as { traceparent?: string }).traceparent,
    stored?.traceparent,
    'and as the CloudEvents attribute of the event',
  );
  const relay = await startOutboxRelay({
    shards: [shard],
    publisher: createPublisher({ nc: fx.nc, prefix }),
    logger: silent,
  });
  t.teardown(() => relay.stop());
  const [handled] = await waitFor('handled', () => (seen.length ? seen : undefined));
  t.is(handled?.traceId, request?.trace_id, 'request, relay and handler share one trace');
  // the relay's publish span ends on the JetStream ack, which may come after the handler has run
  const publish = await waitFor('relay publish span ended', () =>
    exporter
      .getFinishedSpans()
      .find((s) => s.name === 'publish post.published' && s.spanContext().traceId === request?.trace_id),
  );
  t.is(
    publish?.parentSpanContext?.spanId,
    request?.span_id,
    'the relay publish is a child of the writing request',
  );
});

test.serial(
  'an event sent with no headers starts its own trace; a traceparent inside the event is continued',
  async (t) => {
    const prefix = await fx.isolate();
    const { seen, runner } = await tracingConsumer(prefix, 'feed-bare-trace');
    t.teardown(() => runner.stop());
    const bare = sampleEvent('post.published');
    const carried = {
      ...sampleEvent('post.published'),
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    };
    await inRequest(async () => {
      fx.nc.publish(`${prefix}.post.published`, JSON.stringify(bare));
      fx.nc.publish(`${prefix}.post.published`, JSON.stringify(carried));
      await fx.nc.flush();
    });
    await waitFor('both handled', () => seen.length === 2);
    const byId = new Map(seen.map((s) => [s.eventId, s]));
    t.regex(byId.get(bare.id)?.traceId ?? '', /^[0-9a-f]{32}$/, 'a valid new trace');
    t.not(byId.get(bare.id)?.traceId, byId.get(carried.id)?.traceId);
    t.is(
      byId.get(carried.id)?.traceId,
      '4bf92f3577b34da6a3ce929d0e0e4736',
      'CloudEvents distributed-tracing extension',
    );
  },
);

test.serial('a dead letter stays in the trace of the event', async (t) => {
  const prefix = await fx.isolate();
  const { runner } = await tracingConsumer(prefix, 'feed-dlq-trace', new NonRetryableError('nope'));
  t.teardown(() => runner.stop());
  const request = await inRequest(() =>
    createPublisher({ nc: fx.nc, prefix }).publish(sampleEvent('post.published')),
  );
  const [dead] = await waitFor('dead letter', async () => {
    const l = await readDeadLetters(fx.jsm, prefix);
    return l.length ? l : undefined;
  });
  t.regex(dead?.headers.traceparent ?? '', new RegExp(`^00-${request?.trace_id}-`));
});

test.serial(
  'a batch consumer: a batch of one continues its event trace; a bigger batch links every event trace',
  async (t) => {
    const prefix = await fx.isolate();
    const publisher = createPublisher({ nc: fx.nc, prefix });
    // two events from two requests published before the consumer exists: its first pull takes both at once
    const first = await inRequest(() => publisher.publish(sampleEvent('post.published')));
    const second = await inRequest(() => publisher.publish(sampleEvent('post.published')));
    const batches: number[] = [];
    const definition = defineConsumer({
      name: 'feed-batch-trace',
      subjects: ['post.published'],
      handlers: { 'post.published': async () => {} },
      handleBatch: async (events) => {
        batches.push(events.length);
      },
      settings: fast,
    });
    const runner = await startConsumer({ nc: fx.nc, prefix, logger: silent, definition });
    t.teardown(() => runner.stop());
    await waitFor('both handled', () => batches.reduce((a, b) => a + b, 0) === 2);
    if (batches.length === 1) {
      const span = await waitFor('batch span ended', () =>
        exporter.getFinishedSpans().find((s) => s.name === 'feed-batch-trace batch'),
      );
      t.deepEqual(
        span.links.map((l) => l.context.traceId).sort(),
        [first?.trace_id, second?.trace_id].sort(),
        'the batch span links the trace of each of its events',
      );
    } else t.pass('delivered one by one this time: each a batch of one (below)');

    // a batch of one: a consumer span of the event's own trace
    const third = await inRequest(() => publisher.publish(sampleEvent('post.published')));
    const span = await waitFor('consumer span in the trace of the third event', () =>
      exporter
        .getFinishedSpans()
        .find(
          (s) => s.name === 'feed-batch-trace post.published' && s.spanContext().traceId === third?.trace_id,
        ),
    );
    t.truthy(span.parentSpanContext, 'a child in the request trace, not a new trace');
  },
);
