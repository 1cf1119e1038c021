import type { Logger } from '@instantpost/telemetry';
import { Redis } from 'ioredis';
import { BoundedMap } from './bounded.ts';

/**
 * Redis's server-assisted client-side caching (CLIENT TRACKING, RESP2 redirect mode): values read through
 * the tracked connection (`readThrough`) are kept in process until Redis reports a write (or expiry) of
 * their key; from then on a read of them is a lookup here, with no round trip at all.
 *
 * Two connections of its own: one subscribed to `__redis__:invalidate`, and one whose reads Redis tracks
 * and whose invalidations it redirects to the first. A value is not kept when an invalidation of its key
 * arrived while its read was under way (the two connections are separate sockets: an invalidation can
 * overtake the reply). Either connection closing, or a flush, drops everything kept: Redis forgets its
 * tracking with the connection, and invalidations sent meanwhile are lost. Until both are back, reads go
 * to Redis and nothing is kept.
 */
/** Values this process holds, and whether it still does. */
export interface Hold {
  readonly values: readonly (string | null)[];
  /** False from the moment Redis reports a write of one of its keys, or tracking ends. */
  readonly valid: boolean;
}

/** A key read with GET, or a hash field read with HGET (`key` without the key prefix). */
export interface RawRead {
  readonly key: string;
  readonly field?: string | undefined;
}

export interface RedisTracking {
  /**
   * The values of `reads`: from this process's copies when it holds them all (no round trip), else from
   * `fetch` (one call reading those keys, as GET and HGET would, first and in that order; what it returns
   * beyond them is handed back and not kept), run on the tracked connection so Redis tracks what it read,
   * and kept. While tracking is not established, `fetch` runs on `otherwise`
   * and nothing is kept.
   */
  readThrough(
    reads: readonly RawRead[],
    fetch: (client: Redis) => Promise<(string | null)[]>,
    otherwise: Redis,
  ): Promise<(string | null)[]>;
  /**
   * The values of `reads` when this process holds them all (no round trip), else undefined. A caller that
   * checks the same keys again and again passes the same `reads` (their key strings are hashed once).
   */
  held(reads: readonly RawRead[]): (string | null)[] | undefined;
  /**
   * The same as `held`, kept for checking again: a `Hold` whose `valid` stays true until Redis reports a
   * write of one of its keys (or tracking ends). Checking it costs one flag per key and no lookup, for a
   * caller that keeps what it built from those values (a page) and reuses it while they hold. With
   * `expected`, undefined unless the kept values are exactly those (what the caller built from).
   */
  hold(reads: readonly RawRead[], expected?: readonly (string | null)[]): Hold | undefined;
  /** Whether invalidations are being received (reads are kept). */
  readonly tracking: boolean;
  close(): Promise<void>;
}

const INVALIDATE = '__redis__:invalidate';
/** A read that took longer than this is not kept: its key's recent invalidations may be pruned. */
const RECENT_MS = 5000;

/** How long opening waits for tracking to be set up before it lets the service start without it. */
const ESTABLISH_WAIT_MS = 2000;
/** Keys whose values a process keeps (~100 bytes of bookkeeping each, plus the values): the oldest go first. */
const LOCAL_MAX = 100_000;

/**
 * What this process holds of one key: its value (GET) or some of its fields (HGET). `live` turns false when
 * the copy is dropped (the key's invalidation, the end of tracking, eviction, a different value read): a
 * `Hold` checks its copies' flags instead of looking its keys up again.
 */
interface LocalCopy {
  live: boolean;
  value?: string | null;
  fields?: Map<string, string | null>;
}

class HeldValues implements Hold {
  readonly values: readonly (string | null)[];
  private readonly copies: readonly LocalCopy[];
  constructor(values: readonly (string | null)[], copies: readonly LocalCopy[]) {
    this.values = values;
    this.copies = copies;
  }
  get valid(): boolean {
    for (const copy of this.copies) if (!copy.live) return false;
    return true;
  }
}

export async function openRedisTracking(options: {
  url: string;
  keyPrefix: string;
  logger: Logger;
}): Promise<RedisTracking> {
  const { keyPrefix, logger } = options;
  const common = {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    commandTimeout: 1000,
  };
  // Resubscribing by itself would subscribe a connection whose id the tracked one does not redirect to.
  // Named after the prefix (CLIENT LIST tells them apart from the service's own connection).
  const name = (role: string) => `${keyPrefix.replace(/[^A-Za-z0-9_.-]/g, '')}-${role}`;
  const subscriber = new Redis(options.url, {
    ...common,
    autoResubscribe: false,
    connectionName: name('invalidations'),
  });
  const tracked = new Redis(options.url, { ...common, keyPrefix, connectionName: name('tracked') });

  /**
   * Key name without the prefix → what `readThrough` keeps of it (dropped with the key's invalidation);
   * unprefixed so that a hit builds no string.
   */
  // a copy dropped to make room is no longer live: holds on it end
  const local = new BoundedMap<string, LocalCopy>(LOCAL_MAX, (_key, copy) => {
    copy.live = false;
  });
  /** Full key name → when its last invalidation arrived (insertion order is arrival order: pruned from the front). */
  const recent = new Map<string, number>();
  let established = false;
  /** Moves whenever tracking ends or starts: a read begun under another epoch is not kept. */
  let epoch = 0;
  let closed = false;

  const drop = (key: string) => {
    const copy = local.get(key);
    if (copy === undefined) return;
    copy.live = false;
    local.delete(key);
  };
  const endAll = () => {
    for (const copy of local.values()) copy.live = false;
    local.clear();
    recent.clear();
    epoch += 1;
  };

  const invalidated = (keys: readonly string[]) => {
    const now = performance.now();
    for (const key of keys) {
      recent.delete(key);
      recent.set(key, now);
      if (key.startsWith(keyPrefix)) drop(key.slice(keyPrefix.length));
    }
    for (const [key, at] of recent) {
      if (now - at < RECENT_MS) break;
      recent.delete(key);
    }
  };

  subscriber.on('messageBuffer', (channel: Buffer, message: Buffer | Buffer[] | null) => {
    if (String(channel) !== INVALIDATE) return;
    // A flush (FLUSHALL/FLUSHDB) invalidates everything with a nil message.
    if (message === null) endAll();
    else invalidated(Array.isArray(message) ? message.map(String) : [String(message)]);
  });

  /** The subscriber connection's id while it is subscribed (invalidations are redirected to it). */
  let subscriberId: number | undefined;
  const lost = () => {
    established = false;
    endAll();
  };
  const track = async () => {
    if (closed || subscriberId === undefined || tracked.status !== 'ready') return;
    const startedEpoch = epoch;
    try {
      await tracked.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', String(subscriberId));
      if (epoch !== startedEpoch) return; // a connection dropped meanwhile: its 'ready' tracks again
      established = true;
      epoch += 1;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'redis tracking not established; reads go to Redis');
    }
  };
  const subscribe = async () => {
    try {
      const id = Number(await subscriber.client('ID'));
      await subscriber.subscribe(INVALIDATE);
      subscriberId = id;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'redis tracking: invalidations not subscribed');
    }
  };
  let onEstablished: (() => void) | undefined;
  const firstEstablished = new Promise<void>((resolve) => {
    onEstablished = resolve;
  });
  for (const connection of [subscriber, tracked]) {
    connection.on('error', (err: Error) =>
      logger.warn({ err: err.message }, 'redis tracking connection error'),
    );
    connection.on('close', () => {
      if (connection === subscriber) subscriberId = undefined;
      lost();
    });
  }
  subscriber.on(
    'ready',
    () =>
      void subscribe()
        .then(track)
        .then(() => established && onEstablished?.()),
  );
  tracked.on('ready', () => void track().then(() => established && onEstablished?.()));
  // Redis away at start-up fails nothing here: ioredis keeps reconnecting, and reads go the untracked way.
  await Promise.all(
    [subscriber, tracked].map((c) =>
      c
        .connect()
        .catch((err: Error) => logger.warn({ err: err.message }, 'redis tracking: not connected yet')),
    ),
  );
  let waited: NodeJS.Timeout | undefined;
  await Promise.race([
    firstEstablished,
    new Promise((resolve) => {
      waited = setTimeout(resolve, ESTABLISH_WAIT_MS);
    }),
  ]);
  clearTimeout(waited);

  const keep = (read: RawRead, value: string | null, startedAt: number) => {
    const at = recent.get(keyPrefix + read.key);
    if (at !== undefined && at >= startedAt) return; // written while the read was under way
    let copy = local.get(read.key);
    const known = read.field === undefined ? copy?.value : copy?.fields?.get(read.field);
    // A live copy answering differently was overtaken by a write whose invalidation is still on its way:
    // it goes now (holds on it end), the new value starts a copy of its own.
    if (copy !== undefined && known !== undefined && known !== value) drop(read.key);
    if (copy === undefined || !copy.live) {
      copy = { live: true };
      local.set(read.key, copy);
    }
    if (read.field === undefined) copy.value = value;
    else if (copy.fields) copy.fields.set(read.field, value);
    else copy.fields = new Map([[read.field, value]]);
  };

  /** The kept values of `reads` (and their copies into `copies`), or undefined when one is not kept. */
  const lookUp = (reads: readonly RawRead[], copies?: LocalCopy[]): (string | null)[] | undefined => {
    const values: (string | null)[] = [];
    for (const read of reads) {
      const copy = local.get(read.key);
      const value = read.field === undefined ? copy?.value : copy?.fields?.get(read.field);
      if (copy === undefined || value === undefined) return undefined;
      values.push(value);
      copies?.push(copy);
    }
    return values;
  };
  const held = (reads: readonly RawRead[]) => lookUp(reads);
  const hold = (reads: readonly RawRead[], expected?: readonly (string | null)[]): Hold | undefined => {
    const copies: LocalCopy[] = [];
    const values = lookUp(reads, copies);
    if (values === undefined) return undefined;
    if (expected && (expected.length !== values.length || values.some((v, i) => v !== expected[i])))
      return undefined;
    return new HeldValues(values, copies);
  };

  return {
    get tracking() {
      return established;
    },
    held,
    hold,
    async readThrough(reads, fetch, otherwise) {
      const kept = held(reads);
      if (kept !== undefined) return kept;
      if (!established) return fetch(otherwise);
      const startedEpoch = epoch;
      const startedAt = performance.now();
      const values = await fetch(tracked);
      if (epoch === startedEpoch && performance.now() - startedAt < RECENT_MS) {
        reads.forEach((read, i) => {
          keep(read, values[i] ?? null, startedAt);
        });
      }
      return values;
    },
    async close() {
      closed = true;
      established = false;
      endAll();
      subscriber.disconnect();
      tracked.disconnect();
    },
  };
}
