import { useCallback } from 'preact/hooks';
import type { ApiClient } from '../api/client.ts';
import type { FeedPage } from '../api/types.ts';
import { Link } from '../ui/link.tsx';
import { MoreBelow, pageQuery, usePages } from '../ui/pages.tsx';
import { PostCard } from './post-card.tsx';

const PAGE = 10;

/**
 * A list of posts, newest first (the home feed, a tag's page); the next page loads as its end scrolls
 * into view (or on "Load more").
 */
export function Feed({ api, source, title }: { api: ApiClient; source: string; title?: string }) {
  const fetchPage = useCallback(
    (cursor?: string) => api.get<FeedPage>(`${source}?${pageQuery(PAGE, cursor)}`),
    [api, source],
  );
  const pages = usePages(fetchPage);
  const { items: posts } = pages;

  return (
    <main>
      {title ? <h1>{title}</h1> : <h1 class="visually-hidden">Home</h1>}
      {posts.map((post, i) => (
        <PostCard
          key={post.id}
          api={api}
          post={post}
          eager={i < 2}
          first={i === 0}
          onDeleted={() => pages.update((list) => list.filter((p) => p.id !== post.id))}
        />
      ))}
      {!pages.more && posts.length === 0 && (
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
      <MoreBelow pages={pages} />
    </main>
  );
}
