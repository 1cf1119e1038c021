import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { ApiClient } from '../api/client.ts';
import { messageOf } from '../api/errors.ts';
import type { FeedPage, Post } from '../api/types.ts';
import { Link } from '../ui/link.tsx';
import { PostCard } from './post-card.tsx';

const PAGE = 10;

/**
 * A list of posts, newest first (the home feed, a tag's page); the next page loads as its end scrolls
 * into view (or on "Load more").
 */
export function Feed({ api, source, title }: { api: ApiClient; source: string; title?: string }) {
  const [posts, setPosts] = useState<Post[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string>();
  const end = useRef<HTMLDivElement>(null);
  const inFlight = useRef(false);

  const loadMore = useCallback(async () => {
    if (inFlight.current || cursor === null) return;
    inFlight.current = true;
    setLoading(true);
    setError(undefined);
    try {
      const query = new URLSearchParams({ limit: String(PAGE) });
      if (cursor) query.set('cursor', cursor);
      const page = await api.get<FeedPage>(`${source}?${query}`);
      setPosts((seen) => {
        const known = new Set(seen.map((p) => p.id));
        return [...seen, ...page.items.filter((p) => !known.has(p.id))];
      });
      setCursor(page.nextCursor);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      inFlight.current = false;
      setLoading(false);
    }
  }, [api, cursor, source]);

  useEffect(() => {
    if (cursor === undefined) void loadMore();
  }, [cursor, loadMore]);

  // Endless scrolling: the sentinel below the last post asks for the next page a screen ahead.
  useEffect(() => {
    const target = end.current;
    if (!target || cursor === null || error) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) void loadMore();
      },
      { rootMargin: '100% 0px' },
    );
    observer.observe(target);
    return () => observer.disconnect();
  }, [cursor, error, loadMore]);

  return (
    <main>
      {title ? <h1>{title}</h1> : <h1 class="visually-hidden">Home</h1>}
      {posts.map((post, i) => (
        <PostCard key={post.id} api={api} post={post} eager={i < 2} />
      ))}
      {cursor === null && posts.length === 0 && (
        <p class="empty">
          {title ? (
            'No posts yet.'
          ) : (
            <>
              Nothing here yet. Follow people or <Link to={{ name: 'new' }}>share a photo</Link>.
            </>
          )}
        </p>
      )}
      <div ref={end} class="feed-end" aria-live="polite">
        {loading && <p>Loading…</p>}
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        {!loading && cursor && (
          <button type="button" class="secondary" onClick={() => void loadMore()}>
            Load more
          </button>
        )}
      </div>
    </main>
  );
}
