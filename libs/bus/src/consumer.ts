import {
  type AnyCloudEvent,
  type CloudEvent,
  type EventError,
  type EventSubject,
  isEventSubject,
  parseEvent,
} from '@instantpost/events';
import {
  contextFromTraceparent,
  createLogger,
  extractTraceContext,
  type Logger,
  SpanKind,
  withSpan,
} from '@instantpost/telemetry';
import { type Context, ROOT_CONTEXT, type Span, SpanStatusCode } from '@opentelemetry/api';
import {
  ConsumerEvents,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from 'nats';
import {
  type ConsumerSettings,
  consumerConfig,
  type DurableConfig,
  ensureConsumer,
  filterFor,
  type ResolvedSettings,
  resolveSettings,
  supportsMultiFilter,
} from './consumer-config.ts';
import { type DeadLetterError, decodePayload, headersToRecord, publishDeadLetter } from './dead-letter.ts';
import { BusConfigError, BusErrorCodes, NonRetryableError } from './errors.ts';
import {
  assertDurableName,
  assertPrefix,
  eventSubjectOf,
  natsSubjectFor,
  type StreamName,
  streamNameFor,
  streamOf,
} from './names.ts';

/** What a handler gets besides the event. */
export interface HandlerContext<S extends EventSubject = EventSubject> {
  /** The event subject (without any prefix); equals `event.type`. */
  readonly subject: S;
  /** The durable consumer's name, e.g. `feed-fanout` (the inbox key). */
  readonly consumer: string;
  /** 1 on the first delivery; more after a retry, a crash or an ack timeout. */
  readonly deliveries: number;
  readonly stream: string;
  readonly streamSequence: number;
  /** The message headers (`undefined` for a core publish such as `nats pub`). */
  readonly headers: MsgHdrs | undefined;
  /** Resets the server's ack timer; the runner also calls it every `heartbeatIntervalMs` while the handler runs. */
  heartbeat(): void;
}

/** Handles one event. Throw to retry with backoff; throw `NonRetryableError` to dead-letter at once. */
export type EventHandler<S extends EventSubject> = (
  event: CloudEvent<S>,
  ctx: HandlerContext<S>,
) => Promise<void>;

/** One handler per subject. */
export type HandlerMap<S extends EventSubject> = { readonly [K in S]: EventHandler<K> };

/** A durable consumer declared once: its name, subjects, handlers and delivery settings. */
export interface ConsumerDefinition<S extends EventSubject = EventSubject> {
  /** `<service>-<purpose>`, e.g. `feed-fanout`: 1-32 letters, digits, `-`, `_`. */
  readonly name: string;
  readonly description?: string;
  readonly subjects: readonly S[];
  readonly handlers: HandlerMap<S>;
  readonly settings?: ConsumerSettings;
}

/**
 * Declares a consumer and checks it: a subject without a handler, a handler without a subject, an unknown
 * or duplicate subject or a bad name fails here, at module load, with a `BusConfigError`.
 *
 * ```ts
 * export const fanout = defineConsumer({
 *   name: 'feed-fanout',
 *   subjects: ['post.published', 'post.deleted'],
 *   handlers: { 'post.published': async (event, ctx) => {...}, 'post.deleted': async (event) => {...} },
 * });
 * ```
 */
export function defineConsumer<const S extends EventSubject>(definition: {
  readonly name: string;
  readonly description?: string;
  readonly subjects: readonly S[];
  readonly handlers: HandlerMap<NoInfer<S>>;
  readonly settings?: ConsumerSettings;
}): ConsumerDefinition<S> {
  validateDefinition(definition);
  return definition;
}

/** What happened to one delivery (for metrics: `onOutcome`). */
export interface DeliveryOutcome {
  readonly consumer: string;
  readonly subject: string;
  readonly outcome: 'acked' | 'retried' | 'dead-lettered' | 'invalid' | 'skipped';
  readonly deliveries: number;
  readonly durationMs: number;
}

export interface StartConsumerOptions<S extends EventSubject> {
  nc: NatsConnection;
  definition: ConsumerDefinition<S>;
  /** Isolation prefix (tests). */
  prefix?: string;
  logger?: Logger;
  /** Called after every delivery: feed the service's processing-latency histogram from here. */
  onOutcome?: (outcome: DeliveryOutcome) => void;
}

/** Counters since start. */
export interface ConsumerStats {
  acked: number;
  retried: number;
  deadLettered: number;
  /** Malformed events (dead-lettered without calling a handler). */
  invalid: number;
  /** Events of subjects this consumer does not handle (a wider filter on a 2.9 server). */
  skipped: number;
  inFlight: number;
  /** Times the consume loop was recreated (missed heartbeats, consumer deleted, loop failure). */
  restarts: number;
}

/** A running consumer. */
export interface ConsumerRunner {
  readonly name: string;
  /** The JetStream streams it reads (one durable of the same name in each). */
  readonly streams: readonly string[];
  /**
   * Drains: stops fetching, hands back what was fetched but not started, waits for running handlers to
   * ack, nak or dead-letter, and flushes the acks to the server.
   */
  stop(): Promise<void>;
  stats(): ConsumerStats;
}

/**
 * Starts a durable pull consumer for `definition` (one per stream its subjects live in), created or
 * updated first. Each event is validated with libs/events, handled inside a span continuing the
 * message's `traceparent` (or the event's, or a new trace), and then acked; a failure is retried with
 * exponential backoff (`nak(delay)`) and dead-lettered after `maxDeliver` deliveries; an invalid event is
 * dead-lettered at once and the consumer carries on with the next one.
 */
export async function startConsumer<S extends EventSubject>(
  options: StartConsumerOptions<S>,
): Promise<ConsumerRunner> {
  assertPrefix(options.prefix);
  validateDefinition(options.definition);
  // The handlers are looked up by the subject of each message, so their precise types end here.
  const runner = new Runner(options as unknown as StartConsumerOptions<EventSubject>);
  await runner.start();
  return runner;
}

type AnyHandler = (event: AnyCloudEvent, ctx: HandlerContext) => Promise<void>;

interface Binding {
  readonly stream: string;
  readonly config: DurableConfig;
  messages: ConsumerMessages | undefined;
  needsEnsure: boolean;
}

const STARTUP_RETRY_MS = 250;

class Runner implements ConsumerRunner {
  readonly name: string;
  readonly streams: string[] = [];
  private readonly settings: ResolvedSettings;
  private readonly handlers: Map<string, AnyHandler>;
  private readonly prefix: string | undefined;
  private readonly nc: NatsConnection;
  private readonly js: JetStreamClient;
  private jsm: JetStreamManager | undefined;
  private readonly logger: Logger;
  private readonly onOutcome: StartConsumerOptions<EventSubject>['onOutcome'];
  private readonly bindings: Binding[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly subscriptions: Subscription[] = [];
  private readonly slotWaiters: (() => void)[] = [];
  private readonly pauses = new Set<() => void>();
  private running = 0;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private readonly counters: Omit<ConsumerStats, 'inFlight'> = {
    acked: 0,
    retried: 0,
    deadLettered: 0,
    invalid: 0,
    skipped: 0,
    restarts: 0,
  };

  constructor(options: StartConsumerOptions<EventSubject>) {
    const def = options.definition;
    this.name = def.name;
    this.settings = resolveSettings(def.settings);
    this.handlers = new Map(Object.entries(def.handlers) as [string, AnyHandler][]);
    this.prefix = options.prefix || undefined;
    this.nc = options.nc;
    this.js = options.nc.jetstream();
    this.logger = options.logger ?? createLogger({ service: 'bus-consumer', level: 'warn' });
    this.onOutcome = options.onOutcome;
    const byStream = new Map<StreamName, string[]>();
    for (const subject of def.subjects) {
      const stream = streamOf(subject) as StreamName;
      byStream.set(stream, [...(byStream.get(stream) ?? []), natsSubjectFor(subject, this.prefix)]);
    }
    const multiFilter = supportsMultiFilter(options.nc.info?.version);
    for (const [stream, subjects] of byStream) {
      const name = streamNameFor(stream, this.prefix);
      const description = def.description ?? `${def.name}: ${def.subjects.join(', ')}`;
      const config = consumerConfig(def.name, description, this.settings, filterFor(subjects, multiFilter));
      this.bindings.push({ stream: name, config, messages: undefined, needsEnsure: true });
      this.streams.push(name);
    }
  }

  async start(): Promise<void> {
    this.jsm = await this.nc.jetstreamManager();
    for (const binding of this.bindings) {
      const { action } = await ensureConsumer(this.jsm, binding.stream, binding.config);
      binding.needsEnsure = false;
      this.logger.debug({ consumer: this.name, stream: binding.stream, action }, 'consumer ready');
      // The server gives up on an event delivered max_deliver times without an ack (the process died on its
      // last try) and only says so in an advisory: dead-letter it from here so it is not lost silently.
      this.subscriptions.push(
        this.nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${binding.stream}.${this.name}`, {
          callback: (err, msg) => {
            if (!err) this.track(this.onMaxDeliveries(binding, msg.data));
          },
        }),
      );
    }
    for (const binding of this.bindings) this.loops.push(this.consumeLoop(binding));
  }

  stats(): ConsumerStats {
    return { ...this.counters, inFlight: this.running };
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      for (const binding of this.bindings) binding.messages?.stop();
      for (const wake of this.pauses) wake();
      await Promise.all(this.loops);
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
      for (const sub of this.subscriptions) sub.unsubscribe();
      if (!this.nc.isClosed()) await this.nc.flush().catch(() => {});
    })();
    return this.stopped;
  }

  /** Pulls from one stream until stopped; recreates the pull after missed heartbeats or a lost consumer. */
  private async consumeLoop(binding: Binding): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      let messages: ConsumerMessages;
      try {
        if (binding.needsEnsure && this.jsm) {
          await ensureConsumer(this.jsm, binding.stream, binding.config);
          binding.needsEnsure = false;
        }
        const consumer = await this.js.consumers.get(binding.stream, this.name);
        messages = await consumer.consume({
          max_messages: this.settings.concurrency,
          expires: this.settings.pullExpiresMs,
        });
      } catch (err) {
        this.logger.warn(
          { err, consumer: this.name, stream: binding.stream },
          'cannot start consuming, retrying',
        );
        await this.pause(Math.min(10_000, STARTUP_RETRY_MS * 2 ** failures++));
        continue;
      }
      binding.messages = messages;
      if (this.stopping) messages.stop(); // stop() ran while the pull was being set up
      const watching = this.watchStatus(binding, messages);
      try {
        // After stop() the iterator still yields what was already fetched (at most `concurrency` events):
        // those are handled too. Handing them back with nak() would redeliver them straight into this
        // instance's still-open pull request, where nobody reads them until ack_wait expires.
        for await (const msg of messages) {
          await this.acquireSlot(msg);
          failures = 0;
          this.track(this.handle(binding, msg).finally(() => this.releaseSlot()));
        }
      } catch (err) {
        this.logger.warn(
          { err, consumer: this.name, stream: binding.stream },
          'consume loop failed, restarting',
        );
      }
      binding.messages = undefined;
      await watching;
      if (!this.stopping) {
        this.counters.restarts++;
        await this.pause(Math.min(10_000, 100 * 2 ** failures++));
      }
    }
  }

  /** Stops the current pull when the client reports trouble; `consumeLoop` then starts a fresh one. */
  private async watchStatus(binding: Binding, messages: ConsumerMessages): Promise<void> {
    try {
      for await (const status of await messages.status()) {
        if (status.type === ConsumerEvents.HeartbeatsMissed && Number(status.data) >= 2) {
          this.logger.warn(
            { consumer: this.name, stream: binding.stream, missed: status.data },
            'consumer heartbeats missed (event loop blocked or connection stalled): recreating the pull',
          );
          messages.stop();
        } else if (
          status.type === ConsumerEvents.ConsumerDeleted ||
          status.type === ConsumerEvents.ConsumerNotFound ||
          status.type === ConsumerEvents.StreamNotFound
        ) {
          this.logger.warn(
            { consumer: this.name, stream: binding.stream, status: status.type },
            'recreating consumer',
          );
          binding.needsEnsure = true;
          messages.stop();
        }
      }
    } catch {
      // the status iterator ends with the messages iterator
    }
  }

  private async handle(binding: Binding, msg: JsMsg): Promise<void> {
    const started = performance.now();
    const deliveries = msg.info.deliveryCount;
    const subject = eventSubjectOf(msg.subject, this.prefix);
    const handler = subject === undefined ? undefined : this.handlers.get(subject);
    if (subject === undefined || handler === undefined || !isEventSubject(subject)) {
      msg.ack(); // another consumer's subject, let through by a wide filter
      this.counters.skipped++;
      this.report(subject ?? msg.subject, 'skipped', deliveries, started);
      return;
    }
    const parsed = parseEvent(msg.data, { expectedType: subject });
    const parent = this.traceParent(msg.headers, parsed.ok ? parsed.event.traceparent : undefined);
    const outcome = await withSpan(
      `${this.name} ${subject}`,
      async (span): Promise<DeliveryOutcome['outcome']> => {
        if (!parsed.ok) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: parsed.error.message });
          const error = eventErrorInfo(parsed.error);
          return (await this.deadLetter(binding, msg, subject, parsed.payload, error, deliveries))
            ? 'invalid'
            : 'retried';
        }
        const ctx: HandlerContext = {
          subject,
          consumer: this.name,
          deliveries,
          stream: binding.stream,
          streamSequence: msg.info.streamSequence,
          headers: msg.headers,
          heartbeat: () => msg.working(),
        };
        const heartbeat = setInterval(() => msg.working(), this.settings.heartbeatIntervalMs);
        try {
          await handler(parsed.event, ctx);
          msg.ack();
          return 'acked';
        } catch (err) {
          recordFailure(span, err);
          const permanent = err instanceof NonRetryableError;
          if (permanent || deliveries >= this.settings.maxDeliver) {
            const error = handlerErrorInfo(err, permanent);
            return (await this.deadLetter(binding, msg, subject, parsed.event, error, deliveries))
              ? 'dead-lettered'
              : 'retried';
          }
          const delay = this.retryDelay(deliveries);
          this.logger.info(
            { err, consumer: this.name, subject, eventId: parsed.event.id, deliveries, retryInMs: delay },
            'handler failed, retrying',
          );
          msg.nak(delay);
          return 'retried';
        } finally {
          clearInterval(heartbeat);
        }
      },
      {
        kind: SpanKind.CONSUMER,
        parent,
        attributes: {
          'messaging.system': 'nats',
          'messaging.destination.name': msg.subject,
          'messaging.consumer.group.name': this.name,
          'messaging.message.id': parsed.ok ? parsed.event.id : '',
          'messaging.nats.deliveries': deliveries,
        },
      },
    );
    if (outcome === 'acked') this.counters.acked++;
    else if (outcome === 'retried') this.counters.retried++;
    else if (outcome === 'invalid') this.counters.invalid++;
    else this.counters.deadLettered++;
    this.report(subject, outcome, deliveries, started);
  }

  /** Header `traceparent` first (what the bus publishes), then the event's own, else a new trace. */
  private traceParent(headers: MsgHdrs | undefined, fromEvent: string | undefined): Context {
    if (headers?.has('traceparent')) return extractTraceContext(headers, ROOT_CONTEXT);
    if (fromEvent) return contextFromTraceparent(fromEvent, ROOT_CONTEXT);
    return ROOT_CONTEXT;
  }

  /** Publishes the dead letter, then terminates the delivery. When DLQ is unreachable, retries later instead. */
  private async deadLetter(
    binding: Binding,
    msg: JsMsg,
    subject: string,
    event: unknown,
    error: DeadLetterError,
    deliveries: number,
  ): Promise<boolean> {
    try {
      await publishDeadLetter(
        this.js,
        {
          event,
          error,
          consumer: this.name,
          deliveries,
          subject,
          stream: binding.stream,
          streamSequence: msg.info.streamSequence,
          headers: headersToRecord(msg.headers),
          failedAt: new Date().toISOString(),
        },
        { prefix: this.prefix, originalHeaders: msg.headers },
      );
      msg.term();
      this.logger.warn(
        { consumer: this.name, subject, deliveries, code: error.code, reason: error.message },
        'event dead-lettered',
      );
      return true;
    } catch (err) {
      this.logger.error(
        { err, consumer: this.name, subject },
        'cannot publish dead letter, retrying the event later',
      );
      msg.nak(this.retryDelay(deliveries));
      return false;
    }
  }

  private async onMaxDeliveries(binding: Binding, data: Uint8Array): Promise<void> {
    try {
      const advisory = JSON.parse(new TextDecoder().decode(data)) as {
        stream_seq: number;
        deliveries: number;
      };
      const stored = await this.jsm?.streams.getMessage(binding.stream, { seq: advisory.stream_seq });
      if (!stored) return;
      const subject = eventSubjectOf(stored.subject, this.prefix) ?? stored.subject;
      await publishDeadLetter(
        this.js,
        {
          event: decodePayload(stored.data),
          error: {
            code: 'MAX_DELIVERIES',
            message: `not acknowledged after ${advisory.deliveries} deliveries (ack_wait ${this.settings.ackWaitMs} ms): the handler hung or its process died`,
          },
          consumer: this.name,
          deliveries: advisory.deliveries,
          subject,
          stream: binding.stream,
          streamSequence: advisory.stream_seq,
          headers: headersToRecord(stored.header),
          failedAt: new Date().toISOString(),
        },
        { prefix: this.prefix, originalHeaders: stored.header },
      );
      this.counters.deadLettered++;
      this.logger.warn(
        { consumer: this.name, subject, seq: advisory.stream_seq },
        'unacknowledged event dead-lettered',
      );
    } catch (err) {
      this.logger.error({ err, consumer: this.name }, 'cannot dead-letter an event past max_deliver');
    }
  }

  /** `initial × factor^(delivery-1)`, capped, with ±20 % jitter so retries of a burst spread out. */
  private retryDelay(deliveries: number): number {
    const s = this.settings;
    const base = Math.min(s.retryMaxMs, s.retryInitialMs * s.retryFactor ** Math.max(0, deliveries - 1));
    return Math.max(1, Math.round(base * (0.8 + Math.random() * 0.4)));
  }

  private report(
    subject: string,
    outcome: DeliveryOutcome['outcome'],
    deliveries: number,
    started: number,
  ): void {
    this.onOutcome?.({
      consumer: this.name,
      subject,
      outcome,
      deliveries,
      durationMs: performance.now() - started,
    });
  }

  private track(work: Promise<void>): void {
    const tracked = work.catch((err: unknown) => {
      this.logger.error({ err, consumer: this.name }, 'unexpected consumer failure');
    });
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  /**
   * Takes a handler slot for `msg`. While it waits for one, the server is told the event is being worked
   * on, so its ack_wait does not run out in this process (the client buffers at most `concurrency` more).
   */
  private acquireSlot(msg: JsMsg): Promise<void> {
    if (this.running < this.settings.concurrency) {
      this.running++;
      return Promise.resolve();
    }
    const heartbeat = setInterval(() => msg.working(), this.settings.heartbeatIntervalMs);
    return new Promise((resolve) => {
      this.slotWaiters.push(() => {
        clearInterval(heartbeat);
        this.running++;
        resolve();
      });
    });
  }

  private releaseSlot(): void {
    this.running--;
    this.slotWaiters.shift()?.();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.pauses.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.pauses.add(done);
    });
  }
}

function validateDefinition(def: {
  readonly name: string;
  readonly subjects: readonly string[];
  readonly handlers: object;
}): void {
  assertDurableName(def.name);
  const fail = (message: string) => {
    throw new BusConfigError(BusErrorCodes.Definition, `consumer ${def.name}: ${message}`);
  };
  if (def.subjects.length === 0) fail('subscribes to no subject');
  const seen = new Set<string>();
  for (const subject of def.subjects) {
    if (!isEventSubject(subject)) fail(`"${subject}" is not a known event subject`);
    if (seen.has(subject)) fail(`"${subject}" is listed twice`);
    seen.add(subject);
    if (streamOf(subject) === undefined || streamOf(subject) === 'DLQ')
      fail(`no stream captures "${subject}"`);
    const handler: unknown = (def.handlers as Record<string, unknown>)[subject];
    if (typeof handler !== 'function') fail(`subject "${subject}" has no handler`);
  }
  for (const key of Object.keys(def.handlers)) {
    if (!seen.has(key)) fail(`handler "${key}" has no subject (add it to subjects or remove it)`);
  }
}

function eventErrorInfo(error: EventError): DeadLetterError {
  return { code: error.code, message: error.message, ...(error.path ? { path: error.path } : {}) };
}

function handlerErrorInfo(err: unknown, permanent: boolean): DeadLetterError {
  const error = err instanceof Error ? err : new Error(String(err));
  return {
    code: permanent ? BusErrorCodes.NonRetryable : 'HANDLER_FAILED',
    message: error.message.slice(0, 4000),
    name: error.name,
  };
}

function recordFailure(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : new Error(String(err)));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}
