import { natsSubjectFor } from '@instantpost/bus';
import { type EventData, parseEvent } from '@instantpost/events';
import type { Logger } from '@instantpost/telemetry';
import type { NatsConnection } from 'nats';

/**
 * Every replica sees every `notification.created` the outbox relays publish: a plain core NATS
 * subscription on the stream's subject (no consumer, no ack) is the fan-out between replicas. A
 * message published twice (relay retry) arrives twice; the stream hub drops what a client already has.
 */
export function subscribeCreated(
  nc: NatsConnection,
  prefix: string,
  logger: Logger,
  onCreated: (data: EventData<'notification.created'>) => void,
): { stop(): Promise<void> } {
  const sub = nc.subscribe(natsSubjectFor('notification.created', prefix || undefined));
  const loop = (async () => {
    for await (const msg of sub) {
      const parsed = parseEvent(msg.data, { expectedType: 'notification.created' });
      if (!parsed.ok) {
        logger.warn({ err: parsed.error }, 'ignoring a malformed notification.created');
        continue;
      }
      if (parsed.event.type === 'notification.created') onCreated(parsed.event.data);
    }
  })();
  return {
    async stop() {
      sub.unsubscribe();
      await loop;
    },
  };
}
