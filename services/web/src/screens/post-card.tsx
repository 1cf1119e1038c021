import { useRef, useState } from 'preact/hooks';
import type { ApiClient } from '../api/client.ts';
import type { Post } from '../api/types.ts';
import { Caption } from '../ui/caption.tsx';
import { Link } from '../ui/link.tsx';
import { PhotoView } from '../ui/photo-view.tsx';
import { Comments } from './comments.tsx';

const plural = (n: number, one: string, many: string) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

/** One post of a feed: author, photo, like button with its count, caption. */
export function PostCard({ api, post, eager }: { api: ApiClient; post: Post; eager: boolean }) {
  // The button shows what the person wants at once; the API is brought there one call at a time, so a
  // quick double press ends where the person left it. A refusal puts back what the API has.
  const [liked, setLiked] = useState(post.viewerHasLiked);
  const wanted = useRef(post.viewerHasLiked);
  const stored = useRef(post.viewerHasLiked);
  const syncing = useRef(false);
  const othersLikes = post.likeCount - (post.viewerHasLiked ? 1 : 0);
  const headingId = `post-${post.id}-author`;

  const sync = async () => {
    if (syncing.current) return;
    syncing.current = true;
    try {
      while (stored.current !== wanted.current) {
        const next = wanted.current;
        if (next) await api.post(`/v1/posts/${post.id}/likes`);
        else await api.delete(`/v1/posts/${post.id}/likes`);
        stored.current = next;
      }
    } catch {
      wanted.current = stored.current;
      setLiked(stored.current);
    } finally {
      syncing.current = false;
    }
  };

  const toggle = () => {
    wanted.current = !wanted.current;
    setLiked(wanted.current);
    void sync();
  };

  return (
    <article class="post" aria-labelledby={headingId}>
      <header>
        <h2 id={headingId} class="author">
          <Link to={{ name: 'profile', username: post.author.username }}>{post.author.username}</Link>
        </h2>
        <time dateTime={post.createdAt}>{new Date(post.createdAt).toLocaleDateString()}</time>
      </header>
      <PhotoView post={post} eager={eager} />
      <div class="post-actions">
        <button type="button" class="like" aria-pressed={liked} onClick={toggle}>
          Like
        </button>
        <span class="likes">{plural(othersLikes + (liked ? 1 : 0), 'like', 'likes')}</span>
      </div>
      {post.caption && (
        <p class="caption">
          <strong>{post.author.username}</strong> <Caption text={post.caption} post={post} />
        </p>
      )}
      <Comments api={api} post={post} />
    </article>
  );
}
