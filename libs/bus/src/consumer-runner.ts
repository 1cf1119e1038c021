import type { EventSubject } from '@instantpost/events';
import { createLogger, type Logger } from '@instantpost/telemetry';
import {
  ConsumerEvents,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import { type AnyBatchHandler, type BatchDelivered, deliverBatch } from './batch-delivery.ts';
import { Batcher } from './batcher.ts';
import {
  consumerConfig,
  type DurableConfig,
  ensureConsumer,
  filterFor,
  type ResolvedSettings,
  resolveSettings,
  supportsMultiFilter,
} from './consumer-config.ts';
import type { ConsumerDefinition } from './consumer-definition.ts';
import { type AnyHandler, type DeliveryScope, deliver, type Outcome } from './delivery.ts';
import { advisoryConsumerConfig, handleAdvisory } from './max-deliveries.ts';
import { advisoryStreamNameFor, natsSubjectFor, type StreamName, streamNameFor, streamOf } from './names.ts';
import { Slots } from './slots.ts';

/** What happened to one delivery (for metrics: `onOutcome`). */
export interface DeliveryOutcome {
  readonly consumer: string;
  readonly subject: string;
  readonly outcome: Outcome;
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
  /** Handler runs stopped at their deadline (`handlerTimeoutMs`); each is also counted as retried or dead-lettered. */
  timedOut: number;
  inFlight: number;
  /** Times the consume loop was recreated (missed heartbeats, consumer deleted, loop failure). */
  restarts: number;
}

/** A running consumer. */
export interface ConsumerRunner {
  readonly name: string;
  /**
   * The event streams it reads (one durable of the same name in each). A durable of that name in
   * `ADVISORIES` also reads its max-delivery advisories.
   */
  readonly streams: readonly string[];
  /**
   * Drains: stops fetching, hands back what was fetched but not started, waits for running handlers to
   * ack, nak or dead-letter, and flushes the acks to the server.
   */
  stop(): Promise<void>;
  stats(): ConsumerStats;
}

/** One durable in one stream: the consumer's events, or its max-delivery advisories. */
interface Binding {
  readonly kind: 'events' | 'advisories';
  readonly stream: string;
  readonly config: DurableConfig;
  messages: ConsumerMessages | undefined;
  needsEnsure: boolean;
}

const STARTUP_RETRY_MS = 250;
const COUNTER_OF = {
  acked: 'acked',
  retried: 'retried',
  'dead-lettered': 'deadLettered',
  invalid: 'invalid',
  skipped: 'skipped',
} as const satisfies Record<Outcome, keyof ConsumerStats>;

/** The pull loops, concurrency slots, status watching and draining of one consumer definition. */
export class Runner implements ConsumerRunner {
  readonly name: string;
  readonly streams: string[] = [];
  private readonly settings: ResolvedSettings;
  private readonly scope: DeliveryScope;
  private readonly nc: NatsConnection;
  private readonly js: JetStreamClient;
  private jsm: JetStreamManager | undefined;
  private readonly logger: Logger;
  private readonly onOutcome: StartConsumerOptions<EventSubject>['onOutcome'];
  private readonly bindings: Binding[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly slots: Slots;
  private readonly batchHandler: AnyBatchHandler | undefined;
  private readonly pauses = new Set<() => void>();
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private readonly counters: Omit<ConsumerStats, 'inFlight'> = {
    acked: 0,
    retried: 0,
    deadLettered: 0,
    invalid: 0,
    skipped: 0,
    timedOut: 0,
    restarts: 0,
  };

  constructor(options: StartConsumerOptions<EventSubject>) {
    const def = options.definition;
    this.name = def.name;
    this.settings = resolveSettings(def.settings);
    this.slots = new Slots(this.settings.concurrency);
    this.batchHandler = def.handleBatch as AnyBatchHandler | undefined;
    const prefix = options.prefix || undefined;
    this.nc = options.nc;
    this.js = options.nc.jetstream();
    this.logger = options.logger ?? createLogger({ service: 'bus-consumer', level: 'warn' });
    this.onOutcome = options.onOutcome;
    this.scope = {
      consumer: def.name,
      prefix,
      settings: this.settings,
      // The handlers are looked up by the subject of each message, so their precise types end here.
      handlers: new Map(Object.entries(def.handlers) as [string, AnyHandler][]),
      js: this.js,
      logger: this.logger,
    };
    const byStream = new Map<StreamName, string[]>();
    for (const subject of def.subjects) {
      const stream = streamOf(subject) as StreamName;
      byStream.set(stream, [...(byStream.get(stream) ?? []), natsSubjectFor(subject, prefix)]);
    }
    const multiFilter = supportsMultiFilter(options.nc.info?.version);
    for (const [stream, subjects] of byStream) {
      const name = streamNameFor(stream, prefix);
      const description = def.description ?? `${def.name}: ${def.subjects.join(', ')}`;
      const config = consumerConfig(def.name, description, this.settings, filterFor(subjects, multiFilter));
      this.bindings.push({ kind: 'events', stream: name, config, messages: undefined, needsEnsure: true });
      this.streams.push(name);
    }
    this.bindings.push({
      kind: 'advisories',
      stream: advisoryStreamNameFor(prefix),
      config: advisoryConsumerConfig(def.name, this.streams, multiFilter),
      messages: undefined,
      needsEnsure: true,
    });
  }

  async start(): Promise<void> {
    const jsm = await this.nc.jetstreamManager();
    this.jsm = jsm;
    for (const binding of this.bindings) {
      try {
        const { action } = await ensureConsumer(jsm, binding.stream, binding.config);
        binding.needsEnsure = false;
        this.logger.debug({ consumer: this.name, stream: binding.stream, action }, 'consumer ready');
      } catch (err) {
        if (binding.kind === 'events') throw err;
        // Events still flow without it; its loop keeps trying (and logging) until ensureStreams has run.
        this.logger.error(
          { err, consumer: this.name, stream: binding.stream },
          'cannot read max-delivery advisories: events given up by the server would not reach DLQ',
        );
      }
    }
    for (const binding of this.bindings) this.loops.push(this.consumeLoop(binding));
  }

  stats(): ConsumerStats {
    return { ...this.counters, inFlight: this.slots.inUse };
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      for (const binding of this.bindings) binding.messages?.stop();
      for (const wake of this.pauses) wake();
      await Promise.all(this.loops);
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
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
        const batched = binding.kind === 'events' && this.batchHandler !== undefined;
        messages = await consumer.consume({
          max_messages: batched
            ? this.settings.batchSize * this.settings.concurrency
            : this.settings.concurrency,
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
      const batcher = binding.kind === 'events' ? this.batcherFor(binding) : undefined;
      try {
        // After stop() the iterator still yields what was already fetched (at most `concurrency` events):
        // those are handled too. Handing them back with nak() would redeliver them straight into this
        // instance's still-open pull request, where nobody reads them until ack_wait expires.
        for await (const msg of messages) {
          if (batcher) {
            await batcher.add(msg);
            failures = 0;
            continue;
          }
          const alone = binding.kind === 'events' && msg.info.deliveryCount > 1;
          const release = await this.slots.acquire(
            () => msg.working(),
            this.settings.heartbeatIntervalMs,
            alone,
          );
          failures = 0;
          this.track(this.handle(binding, msg, alone).finally(release));
        }
      } catch (err) {
        this.logger.warn(
          { err, consumer: this.name, stream: binding.stream },
          'consume loop failed, restarting',
        );
      }
      await batcher?.drain();
      binding.messages = undefined;
      await watching;
      if (!this.stopping) {
        this.counters.restarts++;
        await this.pause(Math.min(10_000, 100 * 2 ** failures++));
      }
    }
  }

  /** With `handleBatch`: first deliveries in batches, redeliveries alone (as `consumeLoop` runs them). */
  private batcherFor(binding: Binding): Batcher | undefined {
    const handleBatch = this.batchHandler;
    if (!handleBatch) return undefined;
    const every = this.settings.heartbeatIntervalMs;
    return new Batcher({
      size: this.settings.batchSize,
      lingerMs: this.settings.batchLingerMs,
      slots: this.slots,
      heartbeatMs: every,
      start: (batch, release) => this.track(this.handleBatch(binding, batch, handleBatch).finally(release)),
      alone: async (msg) => {
        const release = await this.slots.acquire(() => msg.working(), every, true);
        this.track(this.handle(binding, msg, true).finally(release));
      },
    });
  }

  private async handleBatch(binding: Binding, batch: JsMsg[], handleBatch: AnyBatchHandler): Promise<void> {
    const started = performance.now();
    const results: BatchDelivered[] = await deliverBatch(this.scope, binding.stream, batch, handleBatch);
    const durationMs = performance.now() - started;
    for (const { msg, subject, outcome, timedOut } of results) {
      this.counters[COUNTER_OF[outcome]]++;
      if (timedOut) this.counters.timedOut++;
      const deliveries = msg.info.deliveryCount;
      this.onOutcome?.({ consumer: this.name, subject, outcome, deliveries, durationMs });
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

  /**
   * `alone`: an event delivered again may be the one that killed the previous process. It runs with no
   * other handler, after the acks of those before it reached the server, and its own answer reaches the
   * server before anything else starts: if it kills this process too, it takes only itself down.
   */
  private async handle(binding: Binding, msg: JsMsg, alone = false): Promise<void> {
    if (binding.kind === 'advisories') {
      if (!this.jsm) throw new Error('runner not started');
      const done = await handleAdvisory(this.scope, this.jsm, this.streams, msg);
      if (done === 'dead-lettered') this.counters.deadLettered++;
      return;
    }
    if (alone) await this.nc.flush().catch(() => {});
    const started = performance.now();
    const { subject, outcome, timedOut } = await deliver(this.scope, binding.stream, msg);
    if (alone) await this.nc.flush().catch(() => {});
    this.counters[COUNTER_OF[outcome]]++;
    if (timedOut) this.counters.timedOut++;
    this.onOutcome?.({
      consumer: this.name,
      subject,
      outcome,
      deliveries: msg.info.deliveryCount,
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
