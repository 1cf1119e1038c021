import type { Logger } from '@instantpost/telemetry';
import { pruneInbox } from './inbox.ts';
import type { OutboxShard } from './outbox.ts';

export interface InboxPrunerOptions {
  shards: readonly OutboxShard[];
  /** Keep rows longer than the streams' max age, so a replay from the stream is still deduplicated. */
  retentionMs: number;
  /** Default: hourly. The first pass runs after a random part of one interval, so replicas spread out. */
  intervalMs?: number;
  logger?: Logger;
}

export interface InboxPruner {
  /** One pass over every shard now; the rows it deleted. */
  pruneNow(): Promise<number>;
  stop(): Promise<void>;
}

/** Deletes handled-event records past their retention on a timer, so the inbox tables stay small. */
export function startInboxPruner(options: InboxPrunerOptions): InboxPruner {
  const intervalMs = options.intervalMs ?? 60 * 60 * 1000;
  let running: Promise<number> | undefined;
  let stopped = false;
  const pass = async () => {
    let deleted = 0;
    for (const shard of options.shards) {
      for (;;) {
        if (stopped) return deleted;
        const n = await pruneInbox(shard, options.retentionMs);
        deleted += n;
        if (n < 5000) break;
      }
    }
    return deleted;
  };
  const pruneNow = () => {
    running ??= pass().finally(() => {
      running = undefined;
    });
    return running;
  };
  const tick = () => {
    pruneNow().catch((err: unknown) => options.logger?.warn({ err }, 'inbox pruning failed; retrying later'));
  };
  let timer = setTimeout(() => {
    tick();
    timer = setInterval(tick, intervalMs);
    timer.unref();
  }, Math.random() * intervalMs);
  timer.unref();
  return {
    pruneNow,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      clearInterval(timer);
      await running?.catch(() => 0);
    },
  };
}
