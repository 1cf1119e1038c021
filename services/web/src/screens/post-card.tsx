import { useRef, useState } from 'preact/hooks';
import type { ApiClient } from '../api/client.ts';
import type { Post } from '../api/types.ts';
import { PhotoView } from '../ui/photo-view.tsx';

const plural = (n: number, one: string, many: string) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

/** One post of a feed: author, photo, like button with its count, caption. */
export function PostCard({ api, post, eager }: { api: ApiClient; post: Post; eager: boolean }) {
  const [liked, setLiked] = useState(post.viewerHasLiked);
  const [count, setCount] = useState(post.likeCount);
  // A second press while the first is on its way is ignored (disabling the button would drop its focus).
  const pending = useRef(false);
  const headingId = `post-${post.id}-author`;

  // Shown at once, undone if the API refuses: a like should feel instant.
  const toggle = async () => {
    if (pending.current) return;
    pending.current = true;
    const next = !liked;
    setLiked(next);
    setCount((c) => c + (next ? 1 : -1));
    try {
      if (next) await api.post(`/v1/posts/${post.id}/likes`);
      else await api.delete(`/v1/posts/${post.id}/likes`);
    } catch {
      setLiked(!next);
      setCount((c) => c + (next ? -1 : 1));
    } finally {
      pending.current = false;
    }
  };

  return (
    <article class="post" aria-labelledby={headingId}>
      <header>
        <h2 id={headingId} class="author">
          {post.author.username}
        </h2>
        <time dateTime={post.createdAt}>{new Date(post.createdAt).toLocaleDateString()}</time>
      </header>
      <PhotoView post={post} eager={eager} />
      <div class="post-actions">
        <button type="button" class="like" aria-pressed={liked} onClick={() => void toggle()}>
          Like
        </button>
        <span class="likes">{plural(count, 'like', 'likes')}</span>
      </div>
      {post.caption && (
        <p class="caption">
          <strong>{post.author.username}</strong> {post.caption}
        </p>
      )}
    </article>
  );
}
