import { createLogger, type Logger } from '@instantpost/telemetry';
import type postgres from 'postgres';
import { BusConfigError, BusErrorCodes } from './errors.ts';
import { assertSchemaName } from './names.ts';
import { OUTBOX_CHANNEL, type OutboxShard, outboxStatus } from './outbox.ts';
import type { Publisher } from './publisher.ts';
import type { OutboxRelay, OutboxRelayOptions, RelayStats } from './relay-options.ts';

export type { OutboxRelay, OutboxRelayOptions, RelayedBatch, RelayStats } from './relay-options.ts';

interface Resolved {
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

/**
 * Starts relaying the outboxes of `shards` to JetStream. Rows are claimed with `FOR UPDATE SKIP LOCKED`
 * (so replicas share the work without sending a row twice at once), published with `Nats-Msg-Id` = event
 * id continuing the stored trace, and marked sent in the same transaction only after the ack. A relay
 * that dies between publish and mark leaves the rows unsent: they are published again and the stream's
 * duplicate window (then each consumer's inbox) drops the copy. With NATS down, rows wait and the relay
 * retries with backoff.
 */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const resolved: Resolved = {
    batchSize: options.batchSize ?? 256,
    parallelBatches: options.parallelBatches ?? 2,
    pollIntervalMs: options.pollIntervalMs ?? 5000,
    listen: options.listen ?? true,
    retentionMs: options.retentionMs ?? 24 * 60 * 60 * 1000,
    pruneIntervalMs: options.pruneIntervalMs ?? 60_000,
    retryInitialMs: options.retry?.initialMs ?? 250,
    retryMaxMs: options.retry?.maxMs ?? 10_000,
  };
  if (resolved.batchSize < 1) throw new BusConfigError(BusErrorCodes.Config, 'batchSize must be at least 1');
  if (resolved.parallelBatches < 1) {
    throw new BusConfigError(BusErrorCodes.Config, 'parallelBatches must be at least 1');
  }
  const seen = new Set<string>();
  for (const shard of options.shards) {
    assertSchemaName(shard.schema);
    if (seen.has(shard.schema)) {
      throw new BusConfigError(BusErrorCodes.Config, `shard ${shard.schema} is given twice`);
    }
    seen.add(shard.schema);
  }
  const stats: RelayStats = { published: 0, duplicates: 0, failed: 0, pruned: 0, lastError: undefined };
  const logger = options.logger ?? createLogger({ service: 'outbox-relay', level: 'warn' });
  const newWorker = (sql: postgres.Sql, shards: readonly OutboxShard[]) =>
    new PoolWorker(sql, shards, resolved, options.publisher, stats, logger, options.afterPublish);
  /** The shards grouped by the pool each one's `sql` reads now (a live shard map's view follows moves). */
  const group = () => {
    const pools = new Map<postgres.Sql, OutboxShard[]>();
    for (const shard of options.shards) pools.set(shard.sql, [...(pools.get(shard.sql) ?? []), shard]);
    return pools;
  };
  let workers = new Map<postgres.Sql, PoolWorker>();
  for (const [sql, shards] of group()) workers.set(sql, newWorker(sql, shards));
  try {
    await Promise.all([...workers.values()].map((w) => w.start()));
  } catch (err) {
    await Promise.all([...workers.values()].map((w) => w.stop()));
    throw err;
  }

  let stopping = false;
  let retryTimer: NodeJS.Timeout | undefined;
  /**
   * Regroups the loops by where the shards' `sql` points now. Loops whose pool or shards changed finish their
   * claimed batches and stop *before* the new loops start (one process never relays a shard from two
   * databases at once); loops of unchanged pools go on untouched. Runs one at a time.
   */
  const regroupOnce = async (): Promise<void> => {
    if (stopping) return;
    const wanted = group();
    const same = (w: PoolWorker, shards: readonly OutboxShard[] | undefined) =>
      shards !== undefined &&
      shards.length === w.shards.length &&
      shards.every((s, i) => s.schema === w.shards[i]?.schema);
    const kept = new Map<postgres.Sql, PoolWorker>();
    const retired: PoolWorker[] = [];
    for (const [sql, w] of workers) {
      if (same(w, wanted.get(sql))) kept.set(sql, w);
      else retired.push(w);
    }
    if (retired.length === 0 && kept.size === wanted.size) return;
    workers = kept;
    await Promise.all(retired.map((w) => w.stop()));
    let failed = false;
    await Promise.all(
      [...wanted]
        .filter(([sql]) => !kept.has(sql))
        .map(async ([sql, shards]) => {
          if (stopping) return;
          const w = newWorker(sql, shards);
          try {
            await w.start();
            workers.set(sql, w);
          } catch (err) {
            await w.stop();
            failed = true;
            stats.lastError = errorMessage(err);
            logger.warn(
              { err, schemas: shards.map((s) => s.schema) },
              'outbox relay: loop of a re-routed database did not start, will retry',
            );
          }
        }),
    );
    logger.info({ loops: workers.size, retired: retired.length }, 'outbox relay regrouped by shard routing');
    if (failed && !stopping) {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => {
        regroup().catch((err: unknown) => logger.error({ err }, 'outbox relay: regroup failed'));
      }, resolved.retryInitialMs * 4);
    }
  };
  let regrouping: Promise<void> = Promise.resolve();
  const regroup = (): Promise<void> => {
    regrouping = regrouping.then(regroupOnce, regroupOnce);
    return regrouping;
  };
  const unsubscribe = options.routingChanges?.(() => {
    regroup().catch((err: unknown) => logger.error({ err }, 'outbox relay: regroup failed'));
  });

  return {
    stop: async () => {
      stopping = true;
      unsubscribe?.();
      clearTimeout(retryTimer);
      await regrouping.catch(() => {});
      await Promise.all([...workers.values()].map((w) => w.stop()));
    },
    regroup,
    flush: async (timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (const w of workers.values()) w.markAll();
        const counts = await Promise.all(options.shards.map((s) => outboxStatus(s)));
        if (counts.every((c) => c.unsent === 0)) return;
        if (Date.now() > deadline) {
          throw new Error(`outbox not flushed after ${timeoutMs} ms (${stats.lastError ?? 'no error seen'})`);
        }
        await sleep(50);
      }
    },
    wake: () => {
      for (const w of workers.values()) w.markAll();
    },
    stats: () => ({ ...stats }),
  };
}

/** One loop per physical database (pool): relays its shards, up to `parallelBatches` batches at a time. */
class PoolWorker {
  private readonly bySchema: Map<string, OutboxShard>;
  private readonly dirty = new Set<string>();
  /** Shards whose last batch was full: more rows wait, so a second batch may start beside a running one. */
  private readonly backlog = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private wakeUp: (() => void) | undefined;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private poller: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
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
    if (this.o.listen) {
      // onlisten also runs after the listener reconnects: notifications may have been missed meanwhile
      const listening = await this.sql.listen(
        OUTBOX_CHANNEL,
        (schema) => this.mark(schema),
        () => this.markAll(),
      );
      this.unlisten = () => listening.unlisten();
    }
    this.poller = setInterval(() => this.markAll(), this.o.pollIntervalMs);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
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
   * a backlog stays marked, so the next free slot relays it again at once.
   */
  private next(): string | undefined {
    for (const schema of this.dirty) {
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
      this.recordError(err, schema);
      this.backlog.delete(schema);
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

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
