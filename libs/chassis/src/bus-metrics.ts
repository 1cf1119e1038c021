import { outboxOldestUnsentSeconds, outboxStatus, STREAM_NAMES, streamNameFor } from '@instantpost/bus';
import type { Shards } from '@instantpost/shards';
import type { ConsumerInfo, JetStreamManager } from 'nats';
import { Gauge, type Registry } from 'prom-client';

export interface BusMetricsSources {
  /** Consumers named after the service (`feed`, `feed-*`) are the service's own. */
  service: string;
  jsm: JetStreamManager;
  shards: Shards;
  natsPrefix?: string | undefined;
}

/**
 * The one service that exports the DLQ's size: the stream is shared, so every service repeating it
 * would multiply it in any sum. metadata runs wherever the product runs.
 */
export const DLQ_METRIC_OWNER = 'metadata';

/**
 * The event backbone as Prometheus sees it, read at scrape time: each of the service's durable consumers'
 * lag (events not yet delivered), events delivered but not acked and redeliveries; the events in the
 * service's outboxes not yet published and the age of the oldest; the dead letters waiting in DLQ (from
 * `DLQ_METRIC_OWNER` only).
 */
/** A scrape while NATS or Postgres is away reports what it can (/readyz tells the outage), not a 500. */
const unavailable = (): never[] => [];

export function registerBusMetrics(registry: Registry, sources: BusMetricsSources): void {
  // The registry collects every metric at once: the three consumer gauges share one read per scrape.
  let read: { at: number; infos: Promise<ConsumerInfo[]> } | undefined;
  const consumers = () => {
    if (!read || Date.now() - read.at > 1000) read = { at: Date.now(), infos: ownConsumers(sources) };
    return read.infos;
  };
  const consumerGauge = (name: string, help: string, value: (info: ConsumerInfo) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['consumer', 'stream'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const info of await consumers().catch(unavailable))
          this.set({ consumer: info.name, stream: info.stream_name }, value(info));
      },
    });
  consumerGauge(
    'instantpost_consumer_pending_events',
    'Events in the stream the durable consumer has not been delivered yet (its lag)',
    (info) => info.num_pending,
  );
  consumerGauge(
    'instantpost_consumer_ack_pending_events',
    'Events delivered to the consumer and not acknowledged yet',
    (info) => info.num_ack_pending,
  );
  consumerGauge(
    'instantpost_consumer_redelivered_events',
    'Events delivered more than once and not acknowledged yet',
    (info) => info.num_redelivered,
  );
  new Gauge({
    name: 'instantpost_outbox_unsent_events',
    help: "Events written to the service's outboxes and not yet published",
    registers: [registry],
    async collect() {
      const counts = await sources.shards.fanOut((shard) => outboxStatus(shard)).catch(unavailable);
      if (counts.length > 0) this.set(counts.reduce((sum, c) => sum + c.unsent, 0));
    },
  });
  new Gauge({
    name: 'instantpost_outbox_oldest_unsent_seconds',
    help: "Age of the oldest event in the service's outboxes not yet published (0 when all are)",
    registers: [registry],
    async collect() {
      const ages = await sources.shards
        .fanOut((shard) => outboxOldestUnsentSeconds(shard))
        .catch(unavailable);
      if (ages.length > 0) this.set(Math.max(...ages));
    },
  });
  if (sources.service !== DLQ_METRIC_OWNER) return;
  new Gauge({
    name: 'instantpost_dlq_events',
    help: 'Dead-lettered events kept in the DLQ stream (all services)',
    registers: [registry],
    async collect() {
      const info = await sources.jsm.streams
        .info(streamNameFor('DLQ', sources.natsPrefix))
        .catch(() => undefined);
      if (info) this.set(info.state.messages);
    },
  });
}

/** The durable consumers named after the service (`feed`, `feed-*`) on its event streams. */
async function ownConsumers(sources: BusMetricsSources): Promise<ConsumerInfo[]> {
  const own = (name: string) => name === sources.service || name.startsWith(`${sources.service}-`);
  const infos: ConsumerInfo[] = [];
  for (const stream of STREAM_NAMES) {
    if (stream === 'DLQ') continue;
    for await (const info of sources.jsm.consumers.list(streamNameFor(stream, sources.natsPrefix))) {
      if (own(info.name)) infos.push(info);
    }
  }
  return infos;
}
