import type { EventData } from '@instantpost/events';
import type { Logger } from '@instantpost/telemetry';
import type { Reader, StreamEntry } from './reader.ts';

/** One connected stream, as the hub sees it (the route writes the SSE frames). */
export interface StreamClient {
  /** Unique per stream, across replicas. */
  readonly id: string;
  readonly userId: string;
  /** The session of the token the stream was opened with (absent for tokens that name none). */
  readonly sessionId?: string | undefined;
  send(entry: StreamEntry): void;
  heartbeat(): void;
  close(): void;
}

/** How many missed items a reconnect replays at most (older ones: the client refetches the list). */
export const REPLAY_LIMIT = 100;
/** Items whose last sent version a stream remembers, to drop duplicates (relay retries, replay overlap). */
const REMEMBERED = 512;
/** Loads from Postgres in flight at once for the streams of this replica. */
const LOAD_CONCURRENCY = 4;
/**
 * Items one load reads together (one query per recipient shard and one of the actors' names for all):
 * under a burst the queue fills while loads run, and the next load takes what queued meanwhile.
 */
const LOAD_BATCH = 100;

class Subscriber {
  /** Live entries that arrive while the replay runs; sent after it, so nothing is missed or reordered. */
  private pending: StreamEntry[] | undefined = [];
  private readonly sent = new Map<string, bigint>();

  readonly client: StreamClient;

  constructor(client: StreamClient) {
    this.client = client;
  }

  push(entry: StreamEntry): void {
    if (this.pending) this.pending.push(entry);
    else this.emit(entry);
  }

  goLive(replayed: readonly StreamEntry[]): void {
    for (const entry of replayed) this.emit(entry);
    const pending = this.pending ?? [];
    this.pending = undefined;
    for (const entry of pending.sort((a, b) => (BigInt(a.version) < BigInt(b.version) ? -1 : 1)))
      this.emit(entry);
  }

  private emit(entry: StreamEntry): void {
    const version = BigInt(entry.version);
    const previous = this.sent.get(entry.item.id);
    if (previous !== undefined && previous >= version) return;
    this.sent.delete(entry.item.id);
    this.sent.set(entry.item.id, version);
    if (this.sent.size > REMEMBERED) {
      const oldest = this.sent.keys().next();
      if (!oldest.done) this.sent.delete(oldest.value);
    }
    this.client.send(entry);
  }
}

/**
 * The streams connected to this replica, by user. Every replica hears every `notification.created`
 * (see store/live.ts); the one holding a recipient's streams loads the item once and sends it to each.
 */
export function createStreamHub(deps: { reader: Reader; logger: Logger }) {
  const { reader, logger } = deps;
  const byUser = new Map<string, Set<Subscriber>>();
  const byId = new Map<string, Subscriber>();
  let loading = 0;
  const queue: EventData<'notification.created'>[] = [];

  function drain(): void {
    while (loading < LOAD_CONCURRENCY && queue.length > 0) {
      const batch = queue.splice(0, LOAD_BATCH);
      loading++;
      void load(batch).finally(() => {
        loading--;
        drain();
      });
    }
  }

  async function load(batch: readonly EventData<'notification.created'>[]): Promise<void> {
    const wanted = batch.filter((data) => byUser.has(data.recipientId));
    try {
      const loaded = await reader.entriesOf(wanted);
      // In version order, as the stream's event ids (Last-Event-ID) promise.
      loaded.sort((a, b) => (BigInt(a.version) < BigInt(b.version) ? -1 : 1));
      for (const { recipientId, ...entry } of loaded) {
        for (const sub of byUser.get(recipientId) ?? []) sub.push(entry);
      }
    } catch (err) {
      logger.error(
        { err, notificationIds: wanted.map((d) => d.notificationId) },
        'could not load notifications for their streams',
      );
    }
  }

  return {
    /** A notification was created or grew, somewhere: tell this replica's streams of its recipient. */
    created(data: EventData<'notification.created'>): void {
      if (!byUser.has(data.recipientId)) return;
      queue.push(data);
      drain();
    },

    /**
     * Attaches a stream; with `lastEventId`, first replays what it missed. Returns the detach function.
     */
    async open(client: StreamClient, lastEventId: string | undefined): Promise<() => void> {
      const sub = new Subscriber(client);
      let subs = byUser.get(client.userId);
      if (!subs) {
        subs = new Set();
        byUser.set(client.userId, subs);
      }
      subs.add(sub);
      byId.set(client.id, sub);
      const detach = () => {
        const set = byUser.get(client.userId);
        set?.delete(sub);
        if (set?.size === 0) byUser.delete(client.userId);
        byId.delete(client.id);
      };
      try {
        const replayed =
          lastEventId === undefined ? [] : await reader.missed(client.userId, lastEventId, REPLAY_LIMIT);
        sub.goLive(replayed);
      } catch (err) {
        detach();
        throw err;
      }
      return detach;
    },

    heartbeat(): void {
      for (const subs of byUser.values()) for (const sub of subs) sub.client.heartbeat();
    },

    /** Ends every stream (shutdown): clients reconnect to another replica with Last-Event-ID. */
    closeAll(): void {
      for (const subs of byUser.values()) for (const sub of subs) sub.client.close();
      byUser.clear();
      byId.clear();
    },

    /** Ends one stream if this replica holds it (a newer stream of its user pushed it out). */
    closeStream(streamId: string): void {
      byId.get(streamId)?.client.close();
    },

    /** A session ended: its streams end (without a session, every stream of the user). */
    sessionEnded(userId: string, sessionId: string | undefined): void {
      for (const sub of [...(byUser.get(userId) ?? [])]) {
        if (sessionId === undefined || sub.client.sessionId === sessionId) sub.client.close();
      }
    },

    connections(): number {
      let n = 0;
      for (const subs of byUser.values()) n += subs.size;
      return n;
    },
  };
}

export type StreamHub = ReturnType<typeof createStreamHub>;
