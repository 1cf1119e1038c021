import type { Ref } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { messageOf } from '../api/errors.ts';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** What the end of a list shows and does. */
export interface Paging {
  items: readonly unknown[];
  more: boolean;
  loading: boolean;
  error: string | undefined;
  loadMore(): Promise<void>;
}

export interface Pages<T> extends Paging {
  items: T[];
  /** Changes the loaded items in place (a post deleted, a comment added). */
  update(change: (items: T[]) => T[]): void;
}

/**
 * A cursor-paged list (API.md: `?cursor=&limit=`, `{items, nextCursor}`): the first page at once, the next
 * on `loadMore`, one request at a time; an item a later page repeats (the list moved meanwhile) is kept once.
 */
export function usePages<T extends { id: string }>(
  fetchPage: (cursor?: string) => Promise<Page<T>>,
): Pages<T> {
  const [items, setItems] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string>();
  const inFlight = useRef(false);
  const live = useRef(true);
  useEffect(
    () => () => {
      live.current = false;
    },
    [],
  );

  const loadMore = useCallback(async () => {
    if (inFlight.current || cursor === null) return;
    inFlight.current = true;
    setLoading(true);
    setError(undefined);
    try {
      const page = await fetchPage(cursor);
      if (!live.current) return;
      setItems((seen) => {
        const known = new Set(seen.map((i) => i.id));
        return [...seen, ...page.items.filter((i) => !known.has(i.id))];
      });
      setCursor(page.nextCursor);
    } catch (err) {
      if (live.current) setError(messageOf(err));
    } finally {
      inFlight.current = false;
      if (live.current) setLoading(false);
    }
  }, [fetchPage, cursor]);

  useEffect(() => {
    if (cursor === undefined) void loadMore();
  }, [cursor, loadMore]);

  return { items, more: cursor !== null, loading, error, loadMore, update: setItems };
}

/** `?limit=N&cursor=…` for a page request. */
export function pageQuery(limit: number, cursor?: string): string {
  const query = new URLSearchParams({ limit: String(limit) });
  if (cursor) query.set('cursor', cursor);
  return query.toString();
}

/**
 * The end of a list: endless scrolling (the next page is asked for when this comes within a screen of
 * view) and a "Load more" button for keyboards, plus the loading and error states.
 */
export function MoreBelow({ pages, label = 'Load more' }: { pages: Paging; label?: string }) {
  const end = useRef<HTMLDivElement>(null);
  const { more, error, loadMore } = pages;
  const started = pages.items.length > 0;
  useEffect(() => {
    const target = end.current;
    if (!target || !more || error || !started) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) void loadMore();
      },
      { rootMargin: '100% 0px' },
    );
    observer.observe(target);
    return () => observer.disconnect();
  }, [more, error, started, loadMore]);
  return <LoadMore pages={pages} label={label} anchor={end} />;
}

/** "Load more" (no endless scrolling: a list inside a page, such as a post's comments). */
export function LoadMore({
  pages,
  label = 'Load more',
  anchor,
}: {
  pages: Paging;
  label?: string;
  anchor?: Ref<HTMLDivElement>;
}) {
  return (
    <div ref={anchor} class="list-end" aria-live="polite">
      {pages.loading && <p>Loading…</p>}
      {pages.error && (
        <p role="alert" class="error">
          {pages.error}
        </p>
      )}
      {!pages.loading && pages.more && pages.items.length > 0 && (
        <button type="button" class="secondary" onClick={() => void pages.loadMore()}>
          {label}
        </button>
      )}
    </div>
  );
}
