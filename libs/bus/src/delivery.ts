import { type AnyCloudEvent, isEventSubject, parseEvent } from '@instantpost/events';
import {
  contextFromTraceparent,
  extractTraceContext,
  type Logger,
  SpanKind,
  withSpan,
} from '@instantpost/telemetry';
import { type Context, ROOT_CONTEXT, type Span, SpanStatusCode } from '@opentelemetry/api';
import type { JetStreamClient, JsMsg, MsgHdrs } from 'nats';
import type { ResolvedSettings } from './consumer-config.ts';
import type { HandlerContext } from './consumer-definition.ts';
import { type DeadLetterError, headersToRecord, publishDeadLetter } from './dead-letter.ts';
import {
  type DeliveryDecision,
  type DeliveryResult,
  deadLetterFailed,
  decideDelivery,
} from './delivery-decision.ts';
import { eventSubjectOf } from './names.ts';

/** A handler once its subject has been checked: the runner looks it up by the message's subject. */
export type AnyHandler = (event: AnyCloudEvent, ctx: HandlerContext) => Promise<void>;

/** What one consumer needs to deliver a message to its handler and answer the server. */
export interface DeliveryScope {
  readonly consumer: string;
  readonly prefix: string | undefined;
  readonly settings: ResolvedSettings;
  readonly handlers: ReadonlyMap<string, AnyHandler>;
  readonly js: JetStreamClient;
  readonly logger: Logger;
}

/** The delivery's outcome as counted in stats and reported to `onOutcome`. */
export type Outcome = DeliveryDecision['outcome'];

/**
 * Delivers one message of `stream`: validates it, runs its handler in a consumer span continuing the
 * message's trace, then acks, naks with a delay, or dead-letters and terminates it as `decideDelivery` says.
 */
export async function deliver(
  scope: DeliveryScope,
  stream: string,
  msg: JsMsg,
): Promise<{ subject: string; outcome: Outcome; timedOut: boolean }> {
  const deliveries = msg.info.deliveryCount;
  const subject = eventSubjectOf(msg.subject, scope.prefix);
  const handler = subject === undefined ? undefined : scope.handlers.get(subject);
  if (subject === undefined || handler === undefined || !isEventSubject(subject)) {
    const decision = decideDelivery({ kind: 'not-handled' }, deliveries, scope.settings);
    msg.ack();
    return { subject: subject ?? msg.subject, outcome: decision.outcome, timedOut: false };
  }
  const parsed = parseEvent(msg.data, { expectedType: subject });
  const parent = traceParent(msg.headers, parsed.ok ? parsed.event.traceparent : undefined);
  let timedOut = false;
  const outcome = await withSpan(
    `${scope.consumer} ${subject}`,
    async (span): Promise<Outcome> => {
      const result: DeliveryResult = parsed.ok
        ? await runHandler(scope, handler, parsed.event, stream, msg)
        : { kind: 'invalid', error: parsed.error };
      if (result.kind === 'failed') recordFailure(span, result.error);
      if (result.kind === 'timed-out') {
        timedOut = true;
        recordFailure(span, new Error(`timed out after ${result.afterMs} ms`));
      }
      if (result.kind === 'invalid')
        span.setStatus({ code: SpanStatusCode.ERROR, message: result.error.message });
      const decision = decideDelivery(result, deliveries, scope.settings);
      const event = parsed.ok ? parsed.event : parsed.payload;
      return answer(scope, stream, msg, subject, event, decision, result);
    },
    {
      kind: SpanKind.CONSUMER,
      parent,
      attributes: {
        'messaging.system': 'nats',
        'messaging.destination.name': msg.subject,
        'messaging.consumer.group.name': scope.consumer,
        'messaging.message.id': parsed.ok ? parsed.event.id : '',
        'messaging.nats.deliveries': deliveries,
      },
    },
  );
  return { subject, outcome, timedOut };
}

/**
 * Runs the handler until it settles or its deadline passes, whichever comes first, calling `working()`
 * every `heartbeatIntervalMs` meanwhile. Past the deadline the heartbeats stop, `ctx.signal` aborts and the
 * result is `timed-out`: the caller answers the server and frees the slot while the handler, which cannot be
 * killed, may still finish in the background (its writes are idempotent, like any redelivery's).
 */
async function runHandler(
  scope: DeliveryScope,
  handler: AnyHandler,
  event: AnyCloudEvent,
  stream: string,
  msg: JsMsg,
): Promise<DeliveryResult> {
  const { handlerTimeoutMs, heartbeatIntervalMs } = scope.settings;
  const deadline = new AbortController();
  const heartbeat = () => {
    if (!deadline.signal.aborted) msg.working();
  };
  const ctx: HandlerContext = {
    subject: event.type,
    consumer: scope.consumer,
    deliveries: msg.info.deliveryCount,
    stream,
    streamSequence: msg.info.streamSequence,
    headers: msg.headers,
    signal: deadline.signal,
    heartbeat,
  };
  const heartbeats = setInterval(heartbeat, heartbeatIntervalMs);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<DeliveryResult>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timed-out', afterMs: handlerTimeoutMs }), handlerTimeoutMs);
  });
  const settled = (async () => handler(event, ctx))().then(
    (): DeliveryResult => ({ kind: 'handled' }),
    (error: unknown): DeliveryResult => ({ kind: 'failed', error }),
  );
  try {
    const result = await Promise.race([settled, timedOut]);
    if (result.kind === 'timed-out') {
      deadline.abort(new Error(`handler deadline of ${handlerTimeoutMs} ms passed`));
      scope.logger.warn(
        { consumer: scope.consumer, subject: event.type, eventId: event.id, deliveries: ctx.deliveries },
        'handler timed out: slot freed, event retried later',
      );
    }
    return result;
  } finally {
    clearInterval(heartbeats);
    clearTimeout(timer);
  }
}

/** Applies the decision to the message; returns the outcome that actually happened. */
async function answer(
  scope: DeliveryScope,
  stream: string,
  msg: JsMsg,
  subject: string,
  event: unknown,
  decision: DeliveryDecision,
  result: DeliveryResult,
): Promise<Outcome> {
  const deliveries = msg.info.deliveryCount;
  switch (decision.action) {
    case 'ack':
      msg.ack();
      return decision.outcome;
    case 'retry':
      scope.logger.info(
        {
          err: result.kind === 'failed' ? result.error : undefined,
          timedOutAfterMs: result.kind === 'timed-out' ? result.afterMs : undefined,
          consumer: scope.consumer,
          subject,
          eventId: (event as { id?: unknown } | undefined)?.id,
          deliveries,
          retryInMs: decision.delayMs,
        },
        'handler failed, retrying',
      );
      msg.nak(decision.delayMs);
      return decision.outcome;
    case 'dead-letter':
      return (await deadLetter(scope, stream, msg, subject, event, decision.reason))
        ? decision.outcome
        : 'retried';
  }
}

/** Publishes the dead letter, then terminates the delivery. When DLQ is unreachable, retries later instead. */
async function deadLetter(
  scope: DeliveryScope,
  stream: string,
  msg: JsMsg,
  subject: string,
  event: unknown,
  error: DeadLetterError,
): Promise<boolean> {
  const deliveries = msg.info.deliveryCount;
  try {
    await publishDeadLetter(
      scope.js,
      {
        event,
        error,
        consumer: scope.consumer,
        deliveries,
        subject,
        stream,
        streamSequence: msg.info.streamSequence,
        headers: headersToRecord(msg.headers),
        failedAt: new Date().toISOString(),
      },
      { prefix: scope.prefix, originalHeaders: msg.headers },
    );
    msg.term();
    scope.logger.warn(
      { consumer: scope.consumer, subject, deliveries, code: error.code, reason: error.message },
      'event dead-lettered',
    );
    return true;
  } catch (err) {
    scope.logger.error(
      { err, consumer: scope.consumer, subject },
      'cannot publish dead letter, retrying the event later',
    );
    msg.nak(deadLetterFailed(deliveries, scope.settings).delayMs);
    return false;
  }
}

/** Header `traceparent` first (what the bus publishes), then the event's own, else a new trace. */
export function traceParent(headers: MsgHdrs | undefined, fromEvent: string | undefined): Context {
  if (headers?.has('traceparent')) return extractTraceContext(headers, ROOT_CONTEXT);
  if (fromEvent) return contextFromTraceparent(fromEvent, ROOT_CONTEXT);
  return ROOT_CONTEXT;
}

function recordFailure(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : new Error(String(err)));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}
