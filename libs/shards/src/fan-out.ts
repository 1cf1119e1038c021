/**
 * Runs `fn` once per item, the items split in groups (one per connection pool) with at most
 * `limitPerGroup` calls in flight in each group, so no pool receives more concurrent queries than it
 * has connections (porsager/postgres#747: an over-subscribed pool slows down over time).
 * After the first failure no new call starts anywhere; calls in flight finish, then the first error
 * is thrown. Returns each item's result.
 */
export async function runGrouped<I, T>(
  groups: readonly (readonly I[])[],
  limitPerGroup: number,
  fn: (item: I) => Promise<T>,
): Promise<Map<I, T>> {
  const results = new Map<I, T>();
  let failure: { error: unknown } | undefined;
  const runGroup = async (items: readonly I[]): Promise<void> => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < items.length) {
        const item = items[next++] as I;
        try {
          results.set(item, await fn(item));
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    const workers = Math.max(1, Math.min(limitPerGroup, items.length));
    await Promise.all(Array.from({ length: workers }, worker));
  };
  await Promise.all(groups.map(runGroup));
  if (failure) throw failure.error;
  return results;
}
