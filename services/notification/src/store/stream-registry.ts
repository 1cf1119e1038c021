import type { Logger } from '@instantpost/telemetry';
import type { Redis } from 'ioredis';

/**
 * The open notification streams of each user across every replica (`streams:<userId>`, a sorted set
 * scored by when the stream's token expires, members `<openedAtMs>:<streamId>`), and the channel on
 * which a replica asks the one holding a stream to close it. A stream whose replica died stays in the
 * set only until its token expires.
 */
export function streamRegistry(redis: Redis, channelPrefix: string, logger: Logger) {
  const key = (userId: string) => `streams:${userId}`;
  // ioredis prefixes keys but not pub/sub channels: the channel carries the service's prefix itself.
  const channel = `${channelPrefix}streams:close`;
  const member = (stream: { id: string; openedAt: number }) => `${stream.openedAt}:${stream.id}`;
  return {
    /**
     * Adds a stream; returns the ids of the user's oldest live streams beyond `max` (removed from the set
     * and already announced on the close channel).
     */
    async register(
      userId: string,
      stream: { id: string; openedAt: number; expiresAt: number },
      max: number,
    ): Promise<string[]> {
      const now = Date.now();
      const k = key(userId);
      const results = await redis
        .multi()
        .zremrangebyscore(k, '-inf', now)
        .zadd(k, stream.expiresAt, member(stream))
        .zrange(k, 0, -1)
        .pexpire(k, Math.max(1, stream.expiresAt - now), 'GT')
        .exec();
      const members = (results?.[2]?.[1] as string[] | undefined) ?? [];
      const byAge = members
        .map((m) => ({ m, openedAt: Number(m.slice(0, m.indexOf(':'))), id: m.slice(m.indexOf(':') + 1) }))
        .sort((a, b) => a.openedAt - b.openedAt);
      const extra = byAge.slice(0, Math.max(0, byAge.length - max));
      if (extra.length === 0) return [];
      const batch = redis.multi().zrem(k, ...extra.map((e) => e.m));
      for (const e of extra) batch.publish(channel, e.id);
      await batch.exec();
      return extra.map((e) => e.id);
    },
    async unregister(userId: string, stream: { id: string; openedAt: number }): Promise<void> {
      await redis.zrem(key(userId), member(stream));
    },
    /** Calls `onClose(streamId)` for every close asked by any replica (this one included). */
    async listen(onClose: (streamId: string) => void): Promise<{ stop(): Promise<void> }> {
      // Its own connection (a subscribed one takes no other commands) that queues the subscription until it
      // is connected and subscribes again after every reconnect.
      const subscriber = redis.duplicate({ enableOfflineQueue: true });
      subscriber.on('error', (err: Error) => logger.warn({ err: err.message }, 'stream registry subscriber'));
      subscriber.on('message', (_channel: string, streamId: string) => onClose(streamId));
      await subscriber.subscribe(channel);
      return {
        async stop() {
          await subscriber.quit().catch(() => subscriber.disconnect());
        },
      };
    },
  };
}

export type StreamRegistry = ReturnType<typeof streamRegistry>;
