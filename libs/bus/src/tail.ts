import { type CloudEvent, type EventSubject, parseEvent } from '@instantpost/events';
import type { Logger } from '@instantpost/telemetry';
import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg, NatsError } from 'nats';
import { natsSubjectFor, streamNameFor, streamOf } from './names.ts';

export interface TailOptions<S extends EventSubject> {
  js: JetStreamClient;
  jsm: JetStreamManager;
  subject: S;
  /** Events stored from this time on (ms since the epoch) are delivered first, then every new one. */
  sinceMs: number;
  prefix?: string | undefined;
  logger: Logger;
  onEvent: (event: CloudEvent<S>) => void;
}

export interface EventTail {
  /** Resolves once every event stored when the tail started has been handed to `onEvent`. */
  readonly caughtUp: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Every replica's own copy of one subject, from a point in time on: an ordered consumer (ephemeral, no
 * acks, recreated by the client after a reconnect). For state each replica keeps in memory, such as
 * revoked sessions — not for work that must happen once (that is `startConsumer`).
 */
export async function tailEvents<S extends EventSubject>(options: TailOptions<S>): Promise<EventTail> {
  const { subject, prefix, logger } = options;
  const stream = streamOf(subject);
  if (!stream) throw new Error(`no stream captures ${subject}`);
  const streamName = streamNameFor(stream, prefix);
  const natsSubject = natsSubjectFor(subject, prefix);
  const lastSeq = await lastStoredSeq(options.jsm, streamName, natsSubject, options.sinceMs);

  const consumer = await options.js.consumers.get(streamName, {
    filterSubjects: natsSubject,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(options.sinceMs).toISOString(),
  });
  const messages = await consumer.consume();
  let markCaughtUp: () => void = () => undefined;
  const caughtUp = new Promise<void>((resolve) => {
    markCaughtUp = resolve;
  });
  if (lastSeq === 0) markCaughtUp();

  const handle = (msg: JsMsg) => {
    const parsed = parseEvent(msg.data, { expectedType: subject });
    if (parsed.ok) options.onEvent(parsed.event as CloudEvent<S>);
    else logger.warn({ err: parsed.error, seq: msg.seq }, `ignoring a malformed ${subject}`);
    if (msg.seq >= lastSeq) markCaughtUp();
  };
  const loop = (async () => {
    for await (const msg of messages) {
      try {
        handle(msg);
      } catch (err) {
        logger.error({ err, seq: msg.seq }, `a ${subject} listener failed`);
      }
    }
  })();
  return {
    caughtUp,
    async stop() {
      await messages.close();
      await loop;
    },
  };
}

/** The stream sequence of the newest stored event of the subject at or after `sinceMs`; 0 when none. */
async function lastStoredSeq(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  sinceMs: number,
): Promise<number> {
  try {
    const last = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return last.time.getTime() >= sinceMs ? last.seq : 0;
  } catch (err) {
    if (err instanceof NatsError && (err.api_error?.err_code === 10037 || err.code === '404')) return 0;
    throw err;
  }
}
