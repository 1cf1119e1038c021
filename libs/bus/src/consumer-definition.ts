import { type CloudEvent, type EventSubject, isEventSubject } from '@instantpost/events';
import type { MsgHdrs } from 'nats';
import type { ConsumerSettings } from './consumer-config.ts';
import { BusConfigError, BusErrorCodes } from './errors.ts';
import { assertDurableName, streamOf } from './names.ts';

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
  /**
   * Aborted when the handler runs past `handlerTimeoutMs`: the delivery is then retried (or dead-lettered)
   * whatever the handler does next, so hand it to what can be cancelled (`fetch`, the S3 client...).
   */
  readonly signal: AbortSignal;
  /**
   * Resets the server's ack timer; the runner also calls it every `heartbeatIntervalMs` while the handler
   * runs. Does nothing past the handler's deadline, so a hung handler cannot hold its event forever.
   */
  heartbeat(): void;
}

/** Handles one event. Throw to retry with backoff; throw `NonRetryableError` to dead-letter at once. */
export type EventHandler<S extends EventSubject> = (
  event: CloudEvent<S>,
  ctx: HandlerContext<S>,
) => Promise<void>;

/** What a batch handler gets besides the events. */
export interface BatchContext {
  /** The durable consumer's name (the inbox key). */
  readonly consumer: string;
  readonly stream: string;
  /** Each event's stream sequence, in the order of the events (versions of last-writer-wins projections). */
  readonly streamSequences: readonly number[];
  /** Aborted at `handlerTimeoutMs`: the batch's events are then retried one by one. */
  readonly signal: AbortSignal;
  /** Resets the server's ack timer of every event of the batch (the runner also does it periodically). */
  heartbeat(): void;
}

/**
 * Handles several first deliveries at once, with the same effect as calling the subject handlers on each
 * (typically: one transaction per shard with `withInboxBatch`). Throwing retries each event alone through
 * its subject handler, where the usual retry and dead-letter rules apply.
 */
export type BatchHandler<S extends EventSubject> = (
  events: readonly CloudEvent<S>[],
  ctx: BatchContext,
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
  /** Opt-in batching of first deliveries (`settings.batchSize`); redeliveries always go one by one. */
  readonly handleBatch?: BatchHandler<S>;
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
  readonly handleBatch?: BatchHandler<NoInfer<S>>;
  readonly settings?: ConsumerSettings;
}): ConsumerDefinition<S> {
  validateDefinition(definition);
  return definition;
}

/** The checks of `defineConsumer`, run again by `startConsumer` for hand-built definitions. */
export function validateDefinition(def: {
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
