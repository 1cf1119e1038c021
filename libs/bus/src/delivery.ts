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
): Promise<{ subject: string; outcome: Outcome }> {
  const deliveries = msg.info.deliveryCount;
  const subject = eventSubjectOf(msg.subject, scope.prefix);
  const handler = subject === undefined ? undefined : scope.handlers.get(subject);
  if (subject === undefined || handler === undefined || !isEventSubject(subject)) {
    const decision = decideDelivery({ kind: 'not-handled' }, deliveries, scope.settings);
    msg.ack();
    return { subject: subject ?? msg.subject, outcome: decision.outcome };
  }
  const parsed = parseEvent(msg.data, { expectedType: subject });
  const parent = traceParent(msg.headers, parsed.ok ? parsed.event.traceparent : undefined);
  const outcome = await withSpan(
    `${scope.consumer} ${subject}`,
    async (span): Promise<Outcome> => {
      let result: DeliveryResult;
      if (parsed.ok) {
        const ctx: HandlerContext = {
          subject,
          consumer: scope.consumer,
          deliveries,
          stream,
          streamSequence: msg.info.streamSequence,
          headers: msg.headers,
          heartbeat: () => msg.working(),
        };
        result = await runHandler(handler, parsed.event, ctx, msg, scope.settings);
      } else {
        result = { kind: 'invalid', error: parsed.error };
      }
      if (result.kind === 'failed') recordFailure(span, result.error);
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
  return { subject, outcome };
}

/** Runs the handler, calling `working()` every `heartbeatIntervalMs` while it runs. */
async function runHandler(
  handler: AnyHandler,
  event: AnyCloudEvent,
  ctx: HandlerContext,
  msg: JsMsg,
  settings: ResolvedSettings,
): Promise<DeliveryResult> {
  const heartbeat = setInterval(() => msg.working(), settings.heartbeatIntervalMs);
  try {
    await handler(event, ctx);
    return { kind: 'handled' };
  } catch (error) {
    return { kind: 'failed', error };
  } finally {
    clearInterval(heartbeat);
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
function traceParent(headers: MsgHdrs | undefined, fromEvent: string | undefined): Context {
  if (headers?.has('traceparent')) return extractTraceContext(headers, ROOT_CONTEXT);
  if (fromEvent) return contextFromTraceparent(fromEvent, ROOT_CONTEXT);
  return ROOT_CONTEXT;
}

function recordFailure(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : new Error(String(err)));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}
