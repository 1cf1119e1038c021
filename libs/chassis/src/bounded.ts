/**
 * What a service keeps per process beside Redis (parsed values, rendered pages, ids) is bounded the same
 * way: at most `max` entries, the oldest set goes first. Reads do no bookkeeping (no LRU list to move on a
 * hit): the entries worth keeping are set again soon after they go.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  readonly max: number;
  private readonly onDrop: ((key: K, value: V) => void) | undefined;

  /** `onDrop` hears of each entry dropped to make room (not of `delete` or `clear`). */
  constructor(max: number, onDrop?: (key: K, value: V) => void) {
    super();
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`max must be >= 1, got ${max}`);
    this.max = max;
    this.onDrop = onDrop;
  }

  /** Sets `key` as the newest entry; when that makes one too many, the oldest goes. */
  override set(key: K, value: V): this {
    if (!this.delete(key) && this.size >= this.max) {
      const [oldest, dropped] = this.entries().next().value as [K, V];
      this.delete(oldest);
      this.onDrop?.(oldest, dropped);
    }
    return super.set(key, value);
  }
}

/**
 * `make(text)` for each key's current text, made once per text: while a key's text is the same (Redis
 * hands the same cached string out again) the same result comes back, so callers may key their own work
 * on its identity. At most `max` keys.
 */
export function perText<T>(max: number, make: (text: string) => T): (key: string, text: string) => T {
  const made = new BoundedMap<string, { text: string; value: T }>(max);
  return (key, text) => {
    const known = made.get(key);
    if (known?.text === text) return known.value;
    const value = make(text);
    made.set(key, { text, value });
    return value;
  };
}
