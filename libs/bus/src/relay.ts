import { createLogger } from '@instantpost/telemetry';
import type postgres from 'postgres';
import { BusConfigError, BusErrorCodes } from './errors.ts';
import { assertSchemaName } from './names.ts';
import { type OutboxShard, outboxStatus } from './outbox.ts';
import type { OutboxRelay, OutboxRelayOptions, RelayStats } from './relay-options.ts';
import { errorMessage, PoolWorker, type Resolved, sleep } from './relay-worker.ts';

export type { OutboxRelay, OutboxRelayOptions, RelayedBatch, RelayStats } from './relay-options.ts';

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
