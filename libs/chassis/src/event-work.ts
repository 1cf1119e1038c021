import {
  type ConsumerDefinition,
  type ConsumerRunner,
  createPublisher,
  type OutboxRelay,
  startConsumer,
  startOutboxRelay,
} from '@instantpost/bus';
import type { EventSubject } from '@instantpost/events';
import type { Logger } from '@instantpost/telemetry';
import type { ChassisConfig } from './config.ts';
import { outcomeRecorder } from './consumer-metrics.ts';
import type { Infra } from './infra.ts';

/** A service's event work: the relay of its shards' outboxes and its durable consumers. */
export interface EventWork {
  /** Drains the consumers (running handlers finish, acks flushed), then flushes and stops the relay. */
  stop(): Promise<void>;
}

/** Each consumer keeps its own subjects (a tuple of definitions of different subjects). */
export interface EventWorkOptions<T extends readonly EventSubject[]> {
  /** Relay the outbox of every shard of the service (services that write events in transactions). */
  outbox?: boolean;
  /** The durable consumers to run in this replica. */
  consumers?: { readonly [I in keyof T]: ConsumerDefinition<T[I]> };
}

/**
 * Starts the relay and the consumers a service declares, with the service's clients, prefix and logger —
 * the one place where event work starts and stops, in the order shutdown needs. When a consumer fails to
 * start, what was already started is stopped before the error is thrown.
 */
export async function startEventWork<const T extends readonly EventSubject[]>(
  ctx: { config: ChassisConfig; infra: Infra; logger: Logger },
  options: EventWorkOptions<T>,
): Promise<EventWork> {
  const { config, infra, logger } = ctx;
  const prefix = config.natsPrefix || undefined;
  let relay: OutboxRelay | undefined;
  const runners: ConsumerRunner[] = [];
  const stop = async () => {
    await Promise.all(runners.map((r) => r.stop()));
    await relay?.stop();
  };
  try {
    if (options.outbox) {
      relay = await startOutboxRelay({
        shards: infra.shards.logicalShards.map((s) => infra.shards.forShard(s)),
        // a shard moved by the live map: its outbox is relayed from the new database, not the old one
        routingChanges: (listener) => infra.shards.onChange(listener),
        publisher: createPublisher({ nc: infra.nc, ...(prefix ? { prefix } : {}) }),
        logger,
      });
    }
    for (const definition of options.consumers ?? []) {
      const onOutcome = outcomeRecorder(infra);
      runners.push(
        await startConsumer({
          nc: infra.nc,
          definition,
          ...(prefix ? { prefix } : {}),
          logger,
          ...(onOutcome ? { onOutcome } : {}),
        }),
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}
