import type { PostSummary } from './cache.ts';

/** How many parsed summaries a process keeps (~3 KB each): a few pages of every active reader's feed. */
export const SUMMARY_MEMO_SIZE = 4096;

/**
 * Parsed post summaries, by post id, reused while Redis returns the very same JSON: a hot post is parsed
 * once per process instead of once per page that shows it (JSON.parse was ~12% of a page read). A
 * summary is only reused when the JSON read now is identical to the one it was parsed from, so a changed
 * cache entry is parsed again and nothing stale is ever shown. Bounded: the oldest entry goes first.
 * The summaries are shared by every page that shows the post, so nothing may modify them.
 */
export class SummaryMemo {
  private readonly byId = new Map<string, { json: string; summary: PostSummary }>();

  private readonly maxEntries: number;

  constructor(maxEntries = SUMMARY_MEMO_SIZE) {
    this.maxEntries = maxEntries;
  }

  has(postId: string): boolean {
    return this.byId.has(postId);
  }

  /**
   * The summary parsed for this post, whatever JSON Redis holds now: a post's summary never changes after
   * it is published (the API has no caption edit; a deleted post leaves the timelines and the cache).
   */
  get(postId: string): PostSummary | undefined {
    return this.byId.get(postId)?.summary;
  }

  parse(postId: string, json: string): PostSummary {
    const known = this.byId.get(postId);
    if (known !== undefined && known.json === json) return known.summary;
    const summary = JSON.parse(json) as PostSummary;
    if (known !== undefined) this.byId.delete(postId);
    else if (this.byId.size >= this.maxEntries) {
      const oldest = this.byId.keys().next();
      if (!oldest.done) this.byId.delete(oldest.value);
    }
    if (this.maxEntries > 0) this.byId.set(postId, { json, summary });
    return summary;
  }
}
