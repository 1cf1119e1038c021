import { fileURLToPath } from 'node:url';
import { type AnyCloudEvent, validateEvent } from '@instantpost/events';
import { traceparentOf } from '@instantpost/telemetry';
import type postgres from 'postgres';
import { assertSchemaName } from './names.ts';

/**
 * One logical shard as the bus needs it: its schema and the pool of the physical database holding it.
 * `ShardSql` of `@instantpost/shards` satisfies it; shards on one database share one `sql`.
 */
export interface OutboxShard {
  readonly schema: string;
  readonly sql: postgres.Sql;
  /**
   * After a write on `pool` was refused by a shard move's fence: resolves true once the shard is routed to
   * another pool (libs/shards' `ShardSql` has it); `handleOnce` then runs again there.
   */
  rerouted?(pool: postgres.Sql, timeoutMs?: number): Promise<boolean>;
}

/**
 * The bus's tables (outbox, inbox) as migration files for the shard migration runner:
 * `sources: [busMigrations, { name: 'feed', dir: ... }]` applies them to every shard schema.
 */
export const busMigrations = {
  name: 'bus',
  dir: fileURLToPath(new URL('../sql/migrations', import.meta.url)),
} as const;

/** The prefix of the channels the outbox trigger notifies on commit (`outboxChannel`). */
export const OUTBOX_CHANNEL = 'instantpost_outbox';

/**
 * The channel the outbox trigger of `schema` notifies on commit, the payload being the schema: one per
 * service (`instantpost_outbox_metadata` for `metadata_0007`; cut to Postgres's 63-byte identifiers exactly
 * as the trigger cuts it, migration 0002). Every service's shards share the physical databases, so with one
 * channel for all each relay was woken by the other services' commits too, only to drop them.
 */
export function outboxChannel(schema: string): string {
  return `${OUTBOX_CHANNEL}_${schema.replace(/_[0-9]+$/, '')}`.slice(0, 63);
}

/**
 * Writes `events` to the outbox of `schema` inside the caller's transaction (`tx` from `sql.begin`),
 * with the active trace context. They are published after the transaction commits, and never if it
 * rolls back: no state change without its event, no event without its state change.
 * Each event is validated first, so an invalid event fails the transaction instead of a consumer.
 */
export async function enqueue(
  tx: postgres.TransactionSql,
  schema: string,
  events: AnyCloudEvent | readonly AnyCloudEvent[],
): Promise<void> {
  assertSchemaName(schema);
  const list: readonly AnyCloudEvent[] = Array.isArray(events) ? events : [events as AnyCloudEvent];
  if (list.length === 0) return;
  const rows = outboxRows(list);
  await tx`INSERT INTO ${tx(`${schema}.outbox`)} ${tx(rows, 'event_id', 'subject', 'payload', 'traceparent')}`;
}

/** One outbox row as stored: what `enqueue` inserts for an event. */
export interface OutboxRow {
  event_id: string;
  subject: string;
  payload: string;
  traceparent: string | null;
}

/**
 * The outbox rows of `events` (each validated first, with its trace), for a writer that inserts them in a
 * statement of its own (e.g. a data-modifying CTE that inserts only the events of the rows it changed);
 * `enqueue` is the usual way.
 */
export function outboxRows(events: readonly AnyCloudEvent[]): OutboxRow[] {
  return events.map((event) => {
    const checked = validateEvent(event);
    if (!checked.ok) throw checked.error;
    // an event naming its trace (written for another request, e.g. by group commit) keeps it
    const withTrace = traced(event);
    return {
      event_id: event.id,
      subject: event.type,
      payload: JSON.stringify(withTrace),
      traceparent: withTrace.traceparent ?? null,
    };
  });
}

/**
 * The event with the CloudEvents `traceparent` attribute of the active trace (distributed-tracing
 * extension), unless it names one already: the trace survives whatever carries the event without headers.
 */
export function traced(event: AnyCloudEvent): AnyCloudEvent {
  if (event.traceparent) return event;
  const traceparent = traceparentOf();
  return traceparent ? { ...event, traceparent } : event;
}

/** Counts of one shard's outbox (operators, tests, readiness). */
export async function outboxStatus(shard: OutboxShard): Promise<{ unsent: number; sent: number }> {
  assertSchemaName(shard.schema);
  const sql = shard.sql;
  const [row] = await sql<{ unsent: string; sent: string }[]>`
    SELECT count(*) FILTER (WHERE sent_at IS NULL) AS unsent, count(*) FILTER (WHERE sent_at IS NOT NULL) AS sent
    FROM ${sql(`${shard.schema}.outbox`)}`;
  return { unsent: Number(row?.unsent ?? 0), sent: Number(row?.sent ?? 0) };
}

/** Seconds since the oldest unsent event of one shard was written (0 when all are sent): the relay's lag. */
export async function outboxOldestUnsentSeconds(shard: OutboxShard): Promise<number> {
  assertSchemaName(shard.schema);
  const sql = shard.sql;
  // The oldest unsent row is the first in id order: one step of the partial index on unsent rows.
  const [row] = await sql<{ age: string }[]>`
    SELECT extract(epoch FROM now() - created_at) AS age
    FROM ${sql(`${shard.schema}.outbox`)} WHERE sent_at IS NULL ORDER BY id LIMIT 1`;
  return row ? Math.max(0, Number(row.age)) : 0;
}
