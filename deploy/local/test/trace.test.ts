/**
 * What operators see of the real processes. Traces from the first byte: the services export their spans
 * over OTLP/HTTP (JSON) to a receiver in this test; one upload through the gateway is one trace, from
 * upload's HTTP server span to feed's fan-out, and every event it caused names that trace in its NATS
 * headers and its CloudEvents attribute. Metrics: after that story each service's /metrics shows its own.
 */
import { streamNameFor } from '@instantpost/bus';
import {
  type OtlpReceiver,
  openNamespace,
  type ReceivedSpan,
  startOtlpReceiver,
  stopTestInfra,
  type TestNamespace,
  waitFor,
} from '@instantpost/testing';
import test from 'ava';
import { connect } from 'nats';
import sharp from 'sharp';
import { Client, openEventStream } from './client.ts';
import { openTestStack, type TestStack } from './stack-fixture.ts';

const SERVER = 2;
const CONSUMER = 5;

let ns: TestNamespace;
let receiver: OtlpReceiver;
let running: TestStack;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  receiver = await startOtlpReceiver();
  running = await openTestStack(ns, {
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '200' },
  });
});
test.after.always(async () => {
  await running?.stop();
  await receiver?.close();
  await ns?.close();
  await stopTestInfra();
});

const traceIdOf = (traceparent: string | null | undefined) =>
  /^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent ?? '')?.[1];

function spanIn(traceId: string, match: (s: ReceivedSpan) => boolean): () => ReceivedSpan | undefined {
  return () => receiver.spans.find((s) => s.traceId === traceId && match(s));
}

test.serial(
  'one trace from POST /v1/media to the fan-out in feed, through every event it causes',
  async (t) => {
    const api = new Client(running.url);
    const author = await api.signUp('tracer', 'correct horse battery', 'Tracer');
    const follower = await api.signUp('watcher', 'correct horse battery', 'Watcher');
    const followed = await api.call('POST', `/v1/users/${author.user.id}/follow`, {
      token: follower.accessToken,
    });
    t.true(followed.status < 300, `follow: ${followed.status}`);

    const photo = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3a7' } })
      .jpeg()
      .toBuffer();
    const form = new FormData();
    form.set('caption', 'traced #firstbyte');
    form.set('photo', new Blob([new Uint8Array(photo)], { type: 'image/jpeg' }), 'photo.jpg');
    const uploaded = await api.call<{ id: string }>('POST', '/v1/media', { token: author.accessToken, form });
    t.is(uploaded.status, 202);
    const traceId = traceIdOf(uploaded.headers.get('traceparent'));
    if (!traceId) return t.fail(`no traceparent on the response: ${uploaded.headers.get('traceparent')}`);

    const opts = { timeoutMs: 30_000 };
    const fanout = await waitFor(
      'feed fan-out span',
      spanIn(traceId, (s) => s.service === 'feed' && s.name === 'feed-fanout post.published'),
      opts,
    );
    t.is(fanout.kind, CONSUMER);
    const request = await waitFor(
      'upload server span',
      spanIn(traceId, (s) => s.service === 'upload' && s.kind === SERVER),
      opts,
    );
    t.is(request.name, 'POST /v1/media', 'the server span is named by its route');
    t.is(request.attributes['http.route'], '/v1/media');
    t.is(request.parentSpanId, undefined, 'the trace starts at the HTTP server span');
    for (const [service, name] of [
      ['media-processing', 'media.uploaded'],
      ['metadata', 'media.processed'],
      ['notification', 'post.published'],
    ] as const) {
      await waitFor(
        `${service} handles ${name} in the trace`,
        spanIn(traceId, (s) => s.service === service && s.kind === CONSUMER && s.name.endsWith(` ${name}`)),
        opts,
      );
      t.pass(`${service} ${name}`);
    }
    t.truthy(
      await waitFor(
        'an S3 span',
        spanIn(traceId, (s) => s.service === 'upload' && s.attributes['rpc.service'] === 'S3'),
        opts,
      ),
      'S3 calls are spans of the trace',
    );
    t.truthy(
      await waitFor(
        'a Redis span',
        spanIn(traceId, (s) => s.attributes['db.system.name'] === 'redis'),
        opts,
      ),
      'Redis commands are spans of the trace',
    );

    const nc = await connect({ servers: ns.nats.servers });
    t.teardown(() => nc.close());
    const jsm = await nc.jetstreamManager();
    for (const [stream, subject] of [
      ['MEDIA', 'media.uploaded'],
      ['MEDIA', 'media.processed'],
      ['SOCIAL', 'post.published'],
    ] as const) {
      const msg = await jsm.streams.getMessage(streamNameFor(stream, ns.nats.prefix), {
        last_by_subj: `${ns.nats.prefix}.${subject}`,
      });
      const event = msg.json<{ traceparent?: string }>();
      t.is(traceIdOf(msg.header.get('traceparent')), traceId, `${subject}: the NATS header`);
      t.is(traceIdOf(event.traceparent), traceId, `${subject}: the CloudEvents attribute`);
    }
  },
);

/** The samples of a Prometheus text exposition, by series (`name{labels}`). */
async function scrape(service: string): Promise<Map<string, number>> {
  const [replica] = running.stack.replicasOf(service as Parameters<TestStack['stack']['replicasOf']>[0]);
  const text = await (await fetch(`http://127.0.0.1:${replica?.port}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(
      line
        .slice(0, at)
        .replace(/service="[^"]*",?/, '')
        .replace(/,\}$/, '}')
        .replace('{}', ''),
      Number(line.slice(at + 1)),
    );
  }
  return samples;
}

test.serial("after the story each service's /metrics shows its own metrics", async (t) => {
  const api = new Client(running.url);
  const refused = await api.call('POST', '/v1/sessions', { json: { username: 'tracer', password: 'wrong' } });
  t.is(refused.status, 401);
  const session = await api.logIn('tracer', 'correct horse battery');
  const stream = await openEventStream(`${running.url}/v1/notifications/stream`, session.accessToken);
  t.teardown(() => stream.close());

  const expectations: [string, string, (v: number | undefined) => boolean][] = [
    ['upload', 'instantpost_uploads_total{outcome="accepted"}', (v) => v === 1],
    ['upload', 'instantpost_uploads_total{outcome="failed"}', (v) => v === 0],
    ['metadata', 'instantpost_logins_total{outcome="success"}', (v) => (v ?? 0) >= 1],
    ['metadata', 'instantpost_logins_total{outcome="failure"}', (v) => v === 1],
    ['metadata', 'instantpost_dlq_events', (v) => v === 0],
    ['media-processing', 'instantpost_media_processing_seconds_count', (v) => v === 1],
    // timelines are written only where cached (a follower who read their feed lately): 0 here is right
    ['feed', 'instantpost_fanout_timelines_total', (v) => v !== undefined],
    ['feed', 'instantpost_fanout_seconds_count', (v) => v === 1],
    ['notification', 'instantpost_sse_streams', (v) => v === 1],
    [
      'feed',
      'instantpost_consumer_outcomes_total{consumer="feed-fanout",outcome="acked"}',
      (v) => (v ?? 0) >= 1,
    ],
    [
      'media-processing',
      'instantpost_consumer_handle_seconds_count{consumer="media-processing",subject="media.uploaded"}',
      (v) => v === 1,
    ],
    ['upload', 'instantpost_outbox_oldest_unsent_seconds', (v) => v !== undefined && v < 60],
  ];
  for (const [service, series, ok] of expectations) {
    const value = await waitFor(`${service}: ${series}`, async () => {
      const v = (await scrape(service)).get(series);
      return ok(v) ? { v } : undefined;
    });
    t.pass(`${service} ${series} = ${value.v}`);
  }
  for (const service of ['upload', 'feed', 'media-processing', 'notification']) {
    t.false((await scrape(service)).has('instantpost_dlq_events'), `${service} leaves the DLQ to metadata`);
  }
});
