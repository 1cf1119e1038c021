import type { ChainableCommander } from 'ioredis';

/**
 * Sends a pipeline or MULTI and throws when Redis failed it or any of its commands (ioredis resolves with
 * per-command errors instead of rejecting): the first command's error, or `what` when there is none. For
 * writes whose failure must reach the caller (an event consumer then retries).
 */
export async function execOrThrow(batch: ChainableCommander, what: string): Promise<void> {
  const results = await batch.exec();
  const failed = results?.find(([err]) => err);
  if (!results || failed) throw failed?.[0] ?? new Error(what);
}
