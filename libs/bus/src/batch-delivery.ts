import { type AnyCloudEvent, isEventSubject, parseEvent } from '@instantpost/events';
import { SpanKind, withSpan } from '@instantpost/telemetry';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { JsMsg } from 'nats';
import type { BatchContext } from './consumer-definition.ts';
import { type DeliveryScope, deliver, type Outcome, traceParent } from './delivery.ts';
import { type Random, type RetryPolicy, retryDelay } from './delivery-decision.ts';
import { eventSubjectOf } from './names.ts';

/** A batch handler once its events have been checked (their precise types end in the runner). */
export type AnyBatchHandler = (events: readonly AnyCloudEvent[], ctx: BatchContext) => Promise<void>;

/** What happened to one message of a batch. */
export interface BatchDelivered {
  readonly msg: JsMsg;
  readonly subject: string;
  readonly outcome: Outcome;
  readonly timedOut: boolean;
}

/**
 * What becomes of an event whose batch failed: retried alone (its subject handler, with the usual
 * rules) after the first backoff, or, on its last delivery, delivered alone at once so that its own
 * failure, not the batch's, decides whether it is dead-lettered.
 */
export function afterBatchFailure(
  deliveries: number,
  policy: RetryPolicy,
  random: Random = Math.random,
): { action: 'retry-alone'; delayMs: number } | { action: 'deliver-now' } {
  if (deliveries >= policy.maxDeliver) return { action: 'deliver-now' };
  return { action: 'retry-alone', delayMs: retryDelay(deliveries, policy, random) };
}

/**
 * Delivers first deliveries of `stream` together: messages that are not valid events of this consumer go
 * through `deliver` one by one (dead-lettered or skipped as usual); the valid ones are handed to
 * `handleBatch` at once and all acked when it succeeds. When it throws or passes `handlerTimeoutMs`,
 * each is naked to come back alone (a redelivery runs alone, through its subject handler), so one bad
 * event cannot fail its neighbours more than once and the DLQ rules stay per event.
 */
export async function deliverBatch(
  scope: DeliveryScope,
  stream: string,
  msgs: readonly JsMsg[],
  handleBatch: AnyBatchHandler,
): Promise<BatchDelivered[]> {
  const ready: { msg: JsMsg; event: AnyCloudEvent; subject: string }[] = [];
  const out: BatchDelivered[] = [];
  for (const msg of msgs) {
    const subject = eventSubjectOf(msg.subject, scope.prefix);
    const parsed =
      subject !== undefined && isEventSubject(subject) && scope.handlers.has(subject)
        ? parseEvent(msg.data, { expectedType: subject })
        : undefined;
    if (subject !== undefined && parsed?.ok) ready.push({ msg, event: parsed.event, subject });
    else out.push({ msg, ...(await deliver(scope, stream, msg)) });
  }
  if (ready.length === 0) return out;

  // A batch of one is traced as its event alone would be (a child of the event's trace); a bigger batch
  // is a span of its own that links the trace of each event, so every request's trace still reaches it.
  const contexts = ready.map((r) => traceParent(r.msg.headers, r.event.traceparent));
  const only = ready.length === 1 ? ready[0] : undefined;
  const links = only
    ? []
    : contexts.flatMap((context) => {
        const linked = trace.getSpanContext(context);
        return linked && trace.isSpanContextValid(linked) ? [{ context: linked }] : [];
      });
  const result = await withSpan(
    only ? `${scope.consumer} ${only.subject}` : `${scope.consumer} batch`,
    (span) =>
      runBatch(
        scope,
        stream,
        ready.map((r) => r.msg),
        ready.map((r) => r.event),
        handleBatch,
      ).then((r) => {
        if (r !== 'handled') span.setAttribute('instantpost.batch.result', r);
        return r;
      }),
    {
      kind: SpanKind.CONSUMER,
      parent: only ? (contexts[0] ?? ROOT_CONTEXT) : ROOT_CONTEXT,
      ...(links.length > 0 ? { links } : {}),
      attributes: {
        'messaging.system': 'nats',
        'messaging.consumer.group.name': scope.consumer,
        'messaging.batch.message_count': ready.length,
        ...(only
          ? { 'messaging.destination.name': only.msg.subject, 'messaging.message.id': only.event.id }
          : {}),
      },
    },
  );
  for (const { msg, subject } of ready) {
    if (result === 'handled') {
      msg.ack();
      out.push({ msg, subject, outcome: 'acked', timedOut: false });
      continue;
    }
    const next = afterBatchFailure(msg.info.deliveryCount, scope.settings);
    if (next.action === 'deliver-now') {
      out.push({ msg, ...(await deliver(scope, stream, msg)) });
    } else {
      msg.nak(next.delayMs);
      out.push({ msg, subject, outcome: 'retried', timedOut: result === 'timed-out' });
    }
  }
  return out;
}

/** Runs the batch handler under the handler deadline, heartbeating every message meanwhile. */
async function runBatch(
  scope: DeliveryScope,
  stream: string,
  msgs: readonly JsMsg[],
  events: readonly AnyCloudEvent[],
  handleBatch: AnyBatchHandler,
): Promise<'handled' | 'failed' | 'timed-out'> {
  const { handlerTimeoutMs, heartbeatIntervalMs } = scope.settings;
  const deadline = new AbortController();
  const heartbeat = () => {
    if (deadline.signal.aborted) return;
    for (const msg of msgs) msg.working();
  };
  const ctx: BatchContext = {
    consumer: scope.consumer,
    stream,
    streamSequences: msgs.map((m) => m.info.streamSequence),
    signal: deadline.signal,
    heartbeat,
  };
  const heartbeats = setInterval(heartbeat, heartbeatIntervalMs);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed-out'>((resolve) => {
    timer = setTimeout(() => resolve('timed-out'), handlerTimeoutMs);
  });
  const settled = (async () => handleBatch(events, ctx))().then(
    () => 'handled' as const,
    (err: unknown) => {
      scope.logger.info(
        { err, consumer: scope.consumer, events: events.length },
        'batch handler failed, retrying its events one by one',
      );
      return 'failed' as const;
    },
  );
  try {
    const result = await Promise.race([settled, timedOut]);
    if (result === 'timed-out') {
      deadline.abort(new Error(`batch deadline of ${handlerTimeoutMs} ms passed`));
      scope.logger.warn(
        { consumer: scope.consumer, events: events.length },
        'batch handler timed out: its events are retried one by one',
      );
    }
    return result;
  } finally {
    clearInterval(heartbeats);
    clearTimeout(timer);
  }
}
