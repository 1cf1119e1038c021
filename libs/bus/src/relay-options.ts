import type { Logger } from '@instantpost/telemetry';
import type { OutboxShard } from './outbox.ts';
import type { Publisher } from './publisher.ts';

/** A batch the relay published and is about to mark sent (see `afterPublish`). */
export interface RelayedBatch {
  readonly schema: string;
  readonly eventIds: readonly string[];
}

export interface OutboxRelayOptions {
  /**
   * Every shard whose outbox this process relays. Shards sharing a `sql` pool share one loop and one LISTEN.
   * `sql` is read again on `regroup()` (a `Shards.forShard` view follows the live shard map).
   */
  shards: readonly OutboxShard[];
  /**
   * Subscribes to changes of the shards' routing (e.g. `(l) => shards.onChange(l)`); the relay regroups its
   * loops on each one and unsubscribes on `stop()`.
   */
  routingChanges?: (listener: () => void) => () => void;
  publisher: Publisher;
  /** Rows claimed per transaction, all published at once (PITFALLS: 256 in flight ≈ 4× awaited one by one). Default 256. */
  batchSize?: number;
  /**
   * Batches in flight per physical database (each holds one pool connection while it publishes): a shard
   * with a backlog gets several at once (`SKIP LOCKED` gives each different rows). Default 2.
   */
  parallelBatches?: number;
  /** Fallback poll of every shard, for notifications lost while the listener reconnected. Default 5000 ms. */
  pollIntervalMs?: number;
  /** Wake on `LISTEN` of the shards' service channel (`outboxChannel`; the outbox trigger notifies on commit). Default true. */
  listen?: boolean;
  /** Sent rows are deleted after this long (kept meanwhile for inspection). Default 24 h. */
  retentionMs?: number;
  /** How often sent rows are pruned. Default 60 s. */
  pruneIntervalMs?: number;
  /** Pause after a failed batch (NATS or Postgres down): doubles from `initialMs` up to `maxMs`. */
  retry?: { initialMs?: number; maxMs?: number };
  logger?: Logger;
  /**
   * Called after a batch is acknowledged by JetStream and before it is marked sent, inside the claiming
   * transaction. For fault-injection tests (a relay killed here must cause no duplicate effect).
   */
  afterPublish?: (batch: RelayedBatch) => Promise<void> | void;
}

/** Counters since start. */
export interface RelayStats {
  /** Events acknowledged by JetStream and marked sent (duplicates included). */
  published: number;
  /** Of those, events the stream already had (a relay died between publish and mark). */
  duplicates: number;
  /** Publish attempts that failed (the rows stay and are retried). */
  failed: number;
  /** Sent rows deleted by pruning. */
  pruned: number;
  lastError: string | undefined;
}

/** A running relay. */
export interface OutboxRelay {
  /** Finishes the batches already claimed (published and marked), stops listening and polling. */
  stop(): Promise<void>;
  /** Resolves once no shard has an unsent row (graceful shutdown, tests); rejects after `timeoutMs`. */
  flush(timeoutMs?: number): Promise<void>;
  /** Looks at every shard now (as a notification would). */
  wake(): void;
  /**
   * Groups the loops again by the pool each shard's `sql` reads now (after a shard moved to another
   * database): changed loops finish their claimed batches and stop, then loops for the new pools start
   * and relay what waits there; unchanged pools are untouched. Called on every `routingChanges` event.
   */
  regroup(): Promise<void>;
  stats(): RelayStats;
}
