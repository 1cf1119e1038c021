/**
 * This process's relays, woken directly by this process's outbox writes once they commit.
 *
 * The outbox trigger's NOTIFY costs every committing transaction a signal to each backend LISTENing in the
 * database (every service's relay listens on every database it has shards on): on metadata's like
 * statement, 2 likes per statement with five listeners, 175-183 µs of Postgres CPU per like with it
 * against 100 without. A write whose shard is relayed here sets `LOCAL_WAKE_SETTING` to 'local' in its
 * transaction (the trigger then skips the NOTIFY) and calls `wakeRelaysHere` after the commit; every
 * other write (another process, a tool, a shard whose relay is elsewhere) still notifies.
 */

/** The transaction-local setting (`set_config(name, 'local', true)`) that makes the trigger skip its NOTIFY. */
export const LOCAL_WAKE_SETTING = 'instantpost.outbox_wake';

const relays = new Map<string, Set<() => void>>();

/** Registers a relay of `schema` in this process; returns its removal. */
export function relayHere(schema: string, wake: () => void): () => void {
  const set = relays.get(schema) ?? new Set();
  set.add(wake);
  relays.set(schema, set);
  return () => {
    set.delete(wake);
    if (set.size === 0 && relays.get(schema) === set) relays.delete(schema);
  };
}

/** Whether a relay of this process relays `schema` now (a write may then skip the NOTIFY). */
export function relayedHere(schema: string): boolean {
  return relays.has(schema);
}

/** Wakes this process's relays of `schemas`: after a commit whose outbox rows skipped the NOTIFY. */
export function wakeRelaysHere(schemas: Iterable<string>): void {
  for (const schema of schemas) for (const wake of relays.get(schema) ?? []) wake();
}
