import type { Logger } from '@instantpost/telemetry';
import type postgres from 'postgres';
import { SHARD_MOVING_SQLSTATE } from './inbox.ts';
import { relayHere } from './local-wake.ts';
import { type OutboxShard, outboxChannel } from './outbox.ts';
import type { Publisher } from './publisher.ts';
import type { OutboxRelayOptions, RelayStats } from './relay-options.ts';

/** The relay's options with their defaults applied. */
export interface Resolved {
  batchSize: number;
  parallelBatches: number;
  pollIntervalMs: number;
  listen: boolean;
  retentionMs: number;
  pruneIntervalMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
}

interface OutboxRow {
  id: string;
  event_id: string;
  subject: string;
  payload: string;
  traceparent: string | null;
}

/** One loop per physical database (pool): relays its shards, up to `parallelBatches` batches at a time. */
export class PoolWorker {
  private readonly bySchema: Map<string, OutboxShard>;
  private readonly dirty = new Set<string>();
  /** Shards whose last batch was full: more rows wait, so a second batch may start beside a running one. */
  private readonly backlog = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  /** Shards with a batch running, once per batch. */
  private readonly relaying = new Map<string, number>();
  private wakeUp: (() => void) | undefined;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private poller: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  /** Stops this process's writers from waking this loop directly (local-wake.ts). */
  private unregister: (() => void) | undefined;
  private failures = 0;
  private lastPrune = Date.now();
  private readonly stopSignal = Promise.withResolvers<void>();

  readonly sql: postgres.Sql;
  readonly shards: readonly OutboxShard[];
  private readonly o: Resolved;
  private readonly publisher: Publisher;
  private readonly stats: RelayStats;
  private readonly logger: Logger;
  private readonly afterPublish: OutboxRelayOptions['afterPublish'];

  constructor(
    sql: postgres.Sql,
    shards: readonly OutboxShard[],
    o: Resolved,
    publisher: Publisher,
    stats: RelayStats,
    logger: Logger,
    afterPublish: OutboxRelayOptions['afterPublish'],
  ) {
    this.sql = sql;
    this.shards = shards;
    this.o = o;
    this.publisher = publisher;
    this.stats = stats;
    this.logger = logger;
    this.afterPublish = afterPublish;
    this.bySchema = new Map(shards.map((s) => [s.schema, s]));
  }

  async start(): Promise<void> {
    this.markAll(); // whatever was left unsent before this start
    const removals = this.shards.map((s) => relayHere(s.schema, () => this.mark(s.schema)));
    this.unregister = () => {
      for (const remove of removals) remove();
    };
    if (this.o.listen) {
      // onlisten also runs after the listener reconnects: notifications may have been missed meanwhile
      const channels = [...new Set(this.shards.map((s) => outboxChannel(s.schema)))];
      const listening = await Promise.all(
        channels.map((channel) =>
          this.sql.listen(
            channel,
            (schema) => this.mark(schema),
            () => this.markAll(),
          ),
        ),
      );
      this.unlisten = async () => {
        await Promise.all(listening.map((l) => l.unlisten()));
      };
    }
    this.poller = setInterval(() => this.markAll(), this.o.pollIntervalMs);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.unregister?.();
    clearInterval(this.poller);
    this.stopSignal.resolve();
    this.signal();
    await this.loop;
    await this.unlisten?.().catch(() => {});
  }

  mark(schema: string): void {
    if (!this.bySchema.has(schema)) return;
    this.dirty.add(schema);
    this.signal();
  }

  markAll(): void {
    for (const schema of this.bySchema.keys()) this.dirty.add(schema);
    this.signal();
  }

  private signal(): void {
    const wake = this.wakeUp;
    this.wakeUp = undefined;
    wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      // during a failure streak one batch at a time probes whether NATS (or Postgres) is back
      const slots = this.failures > 0 ? 1 : this.o.parallelBatches;
      const schema = this.dirty.size > 0 && this.running.size < slots ? this.next() : undefined;
      if (schema === undefined) {
        await new Promise<void>((resolve) => {
          this.wakeUp = resolve;
        });
        continue;
      }
      const task = this.relayOne(schema).finally(() => {
        this.running.delete(task);
        this.signal();
      });
      this.running.add(task);
      await this.maybePrune();
    }
    await Promise.all(this.running);
  }

  /**
   * The next shard to relay, in turn (Set order), so one busy shard does not starve the others. A shard with
   * a backlog stays marked, so the next free slot relays it again at once. A shard whose batch is running is
   * not claimed again beside it (unless it has a backlog): its mark waits, and the batch after it takes
   * everything committed meanwhile. Claiming at once mostly found rows the running batch had already locked:
   * under a like storm 4 of 5 claims came back empty, each a transaction of four statements.
   */
  private next(): string | undefined {
    for (const schema of this.dirty) {
      if (this.relaying.has(schema) && !this.backlog.has(schema)) continue;
      if (!this.backlog.has(schema)) this.dirty.delete(schema);
      else {
        // moved to the back of the turn
        this.dirty.delete(schema);
        this.dirty.add(schema);
      }
      return schema;
    }
    return undefined;
  }

  private async relayOne(schema: string): Promise<void> {
    const shard = this.bySchema.get(schema);
    if (!shard) return;
    this.relaying.set(schema, (this.relaying.get(schema) ?? 0) + 1);
    try {
      await this.relayShard(shard);
    } finally {
      const left = (this.relaying.get(schema) ?? 1) - 1;
      if (left > 0) this.relaying.set(schema, left);
      else this.relaying.delete(schema);
    }
  }

  private async relayShard(shard: OutboxShard): Promise<void> {
    const schema = shard.schema;
    try {
      const { claimed, failed } = await this.relayBatch(shard);
      if (failed > 0) {
        this.dirty.add(schema);
        await this.pauseAfterFailure();
      } else {
        this.failures = 0;
        if (claimed >= this.o.batchSize) {
          this.backlog.add(schema);
          this.dirty.add(schema);
        } else {
          this.backlog.delete(schema);
        }
      }
    } catch (err) {
      this.backlog.delete(schema);
      // The shard is moving (its write fence refused marking the batch sent): its rows go out from the new
      // database once the map flips and the relay regroups (the republished ones are duplicates the stream
      // and the inboxes absorb). Not a failure: the other shards of this database must not wait for it.
      if ((err as { code?: unknown } | null)?.code === SHARD_MOVING_SQLSTATE) return;
      this.recordError(err, schema);
      this.dirty.add(schema);
      await this.pauseAfterFailure();
    }
  }

  /** Claims, publishes and marks one batch of one shard, in one transaction. */
  private async relayBatch(shard: OutboxShard): Promise<{ claimed: number; failed: number }> {
    const table = `${shard.schema}.outbox`;
    return this.sql.begin(async (tx) => {
      // Marking rows sent need not wait for the WAL flush: a mark lost in a crash only means a republish,
      // which the stream's duplicate window and the consumers' inbox absorb. Saves an fsync per batch.
      await tx`SET LOCAL synchronous_commit TO OFF`;
      const rows = await tx<OutboxRow[]>`
        SELECT id, event_id, subject, payload, traceparent FROM ${tx(table)}
        WHERE sent_at IS NULL ORDER BY id LIMIT ${this.o.batchSize}
        FOR UPDATE SKIP LOCKED`;
      if (rows.length === 0) return { claimed: 0, failed: 0 };
      // Published concurrently on one connection: JetStream stores them in this order when all succeed.
      const results = await Promise.allSettled(
        rows.map((row) =>
          this.publisher.publishSerialized({
            subject: row.subject,
            id: row.event_id,
            payload: row.payload,
            traceparent: row.traceparent,
          }),
        ),
      );
      const sent: string[] = [];
      const sentEventIds: string[] = [];
      const failed: string[] = [];
      let firstError: unknown;
      results.forEach((result, i) => {
        const row = rows[i] as OutboxRow;
        if (result.status === 'fulfilled') {
          sent.push(row.id);
          sentEventIds.push(row.event_id);
          if (result.value.duplicate) this.stats.duplicates++;
        } else {
          failed.push(row.id);
          firstError ??= result.reason;
        }
      });
      if (sent.length > 0) {
        await this.afterPublish?.({ schema: shard.schema, eventIds: sentEventIds });
        await tx`UPDATE ${tx(table)} SET sent_at = now() WHERE id = ANY(${sent}::bigint[])`;
      }
      if (failed.length > 0) {
        const message = errorMessage(firstError);
        await tx`
          UPDATE ${tx(table)} SET attempts = attempts + 1, last_error = ${message.slice(0, 1000)}
          WHERE id = ANY(${failed}::bigint[])`;
        this.recordError(firstError, shard.schema, failed.length);
      }
      this.stats.published += sent.length;
      this.stats.failed += failed.length;
      return { claimed: rows.length, failed: failed.length };
    });
  }

  private async maybePrune(): Promise<void> {
    if (this.stopping || Date.now() - this.lastPrune < this.o.pruneIntervalMs) return;
    this.lastPrune = Date.now();
    for (const shard of this.shards) {
      const table = this.sql(`${shard.schema}.outbox`);
      try {
        for (;;) {
          const result = await this.sql`
            DELETE FROM ${table} WHERE id IN (
              SELECT id FROM ${table}
              WHERE sent_at < now() - ${this.o.retentionMs} * interval '1 millisecond'
              LIMIT 5000)`;
          this.stats.pruned += result.count;
          if (result.count < 5000 || this.stopping) break;
        }
      } catch (err) {
        this.recordError(err, shard.schema);
      }
    }
  }

  private recordError(err: unknown, schema: string, rows?: number): void {
    this.stats.lastError = errorMessage(err);
    // logged once per failure streak and then every 20th time, not for each retry
    if (this.failures === 0 || this.failures % 20 === 0) {
      this.logger.warn(
        { err, schema, rows, failures: this.failures + 1 },
        'outbox relay: publish failed, will retry',
      );
    }
  }

  private async pauseAfterFailure(): Promise<void> {
    const delay = Math.min(this.o.retryMaxMs, this.o.retryInitialMs * 2 ** this.failures);
    this.failures++;
    // only stop() cuts a pause short; notifications arriving meanwhile just mark their shard
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise((resolve) => (timer = setTimeout(resolve, delay))),
      this.stopSignal.promise,
    ]);
    clearTimeout(timer);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
