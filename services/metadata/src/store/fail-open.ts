import type { Logger } from '@instantpost/telemetry';

/** Runs a Redis operation; on failure returns `fallback` instead (a cache miss, no limit). */
export type FailOpen = <T, F>(operation: Promise<T>, fallback: F, what: string) => Promise<T | F>;

/** One warning per kind of operation every this many ms: an outage must not flood the log. */
const WARN_EVERY_MS = 10_000;

export function failOpen(logger: Logger): FailOpen {
  const lastWarned = new Map<string, number>();
  return async (operation, fallback, what) => {
    try {
      return await operation;
    } catch (err) {
      const now = Date.now();
      if (now - (lastWarned.get(what) ?? 0) >= WARN_EVERY_MS) {
        lastWarned.set(what, now);
        logger.warn({ err: (err as Error).message }, `redis unavailable: ${what} skipped`);
      }
      return fallback;
    }
  };
}
