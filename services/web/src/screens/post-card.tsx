import { useRef, useState } from 'preact/hooks';
import type { ApiClient } from '../api/client.ts';
import { messageOf } from '../api/errors.ts';
import type { Post } from '../api/types.ts';
import { Caption } from '../ui/caption.tsx';
import { Confirm } from '../ui/confirm.tsx';
import { Link } from '../ui/link.tsx';
import { PhotoView } from '../ui/photo-view.tsx';
import { Comments } from './comments.tsx';

const plural = (n: number, one: string, many: string) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

/**
 * One post: author, photo, like button with its count, caption, comments; for its author a "Delete"
 * that asks first. `onDeleted` runs once the API has deleted it (the list drops it, the post page leaves).
 */
export function PostCard(props: {
  api: ApiClient;
  post: Post;
  eager: boolean;
  /** The first post of the screen: its photo is fetched first. */
  first?: boolean;
  commentsOpen?: boolean;
  onDeleted(): void;
}) {
  const { api, post, eager } = props;
  // The button shows what the person wants at once; the API is brought there one call at a time, so a
  // quick double press ends where the person left it. A refusal puts back what the API has.
  const [liked, setLiked] = useState(post.viewerHasLiked);
  const wanted = useRef(post.viewerHasLiked);
  const stored = useRef(post.viewerHasLiked);
  const syncing = useRef(false);
  const othersLikes = post.likeCount - (post.viewerHasLiked ? 1 : 0);
  const headingId = `post-${post.id}-author`;
  const mine = api.tokens.user?.id === post.author.id;

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
        <Link to={{ name: 'post', id: post.id }}>
          <time dateTime={post.createdAt}>{new Date(post.createdAt).toLocaleDateString()}</time>
        </Link>
        {mine && <DeletePost api={api} post={post} onDeleted={props.onDeleted} />}
      </header>
      <PhotoView post={post} eager={eager} first={props.first} />
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
      <Comments api={api} post={post} initiallyOpen={props.commentsOpen ?? false} />
    </article>
  );
}

/** "Delete", then a dialog asking first; the API's refusal is shown in the dialog. */
function DeletePost({ api, post, onDeleted }: { api: ApiClient; post: Post; onDeleted(): void }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const opener = useRef<HTMLButtonElement>(null);

  const remove = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api.delete(`/v1/posts/${post.id}`);
      setAsking(false);
      onDeleted();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <button
        ref={opener}
        type="button"
        class="text delete"
        aria-haspopup="dialog"
        onClick={() => setAsking(true)}
      >
        Delete
      </button>
      {asking && (
        <Confirm
          title="Delete this post?"
          confirm="Delete post"
          busy={busy}
          onConfirm={() => void remove()}
          onCancel={() => {
            setAsking(false);
            opener.current?.focus();
          }}
        >
          <p>The photo, its likes and comments leave every feed. This cannot be undone.</p>
          {error && (
            <p role="alert" class="error">
              {error}
            </p>
          )}
        </Confirm>
      )}
    </>
  );
}
