import { useCallback, useState } from 'preact/hooks';
import type { ApiClient } from '../api/client.ts';
import { messageOf } from '../api/errors.ts';
import type { Comment, CommentPage, Post } from '../api/types.ts';
import { Caption } from '../ui/caption.tsx';
import { LoadMore, pageQuery, usePages } from '../ui/pages.tsx';

const PAGE = 20;

/** A post's comments, oldest first, opened on demand and paged ("More comments"), and a field to add one. */
export function Comments({
  api,
  post,
  initiallyOpen,
}: {
  api: ApiClient;
  post: Post;
  initiallyOpen: boolean;
}) {
  const [open, setOpen] = useState(initiallyOpen);
  // Loaded from the first opening on, and kept while closed.
  const [opened, setOpened] = useState(initiallyOpen);
  // Added here: shown after the loaded ones (the API lists them last, oldest first, when their page comes).
  const [added, setAdded] = useState<Comment[]>([]);
  const [total, setTotal] = useState(post.commentCount);
  const [error, setError] = useState<string>();
  const [sending, setSending] = useState(false);
  const listId = `post-${post.id}-comments`;

  const toggle = () => {
    setOpen(!open);
    setOpened(true);
  };

  const send = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const text = String(new FormData(form).get('text') ?? '').trim();
    if (!text) return;
    setSending(true);
    setError(undefined);
    try {
      const comment = await api.post<Comment>(`/v1/posts/${post.id}/comments`, { text });
      setAdded((list) => [...list, comment]);
      setTotal((n) => n + 1);
      setOpen(true);
      setOpened(true);
      form.reset();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setSending(false);
    }
  };

  return (
    <div class="comments">
      <button type="button" class="text" aria-expanded={open} aria-controls={listId} onClick={toggle}>
        {total === 0 ? 'Comments' : `Comments (${total})`}
      </button>
      <div id={listId} hidden={!open}>
        {opened && <CommentList api={api} postId={post.id} added={added} />}
      </div>
      <form class="comment-form" onSubmit={(e) => void send(e)}>
        <label for={`${listId}-text`} class="visually-hidden">
          Comment on {post.author.username}’s photo
        </label>
        <input
          id={`${listId}-text`}
          name="text"
          maxLength={2200}
          required
          placeholder="Add a comment…"
          autocomplete="off"
        />
        <button type="submit" class="secondary" disabled={sending}>
          Post
        </button>
      </form>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </div>
  );
}

function CommentList({ api, postId, added }: { api: ApiClient; postId: string; added: Comment[] }) {
  const fetchPage = useCallback(
    (cursor?: string) => api.get<CommentPage>(`/v1/posts/${postId}/comments?${pageQuery(PAGE, cursor)}`),
    [api, postId],
  );
  const pages = usePages(fetchPage);
  const loaded = new Set(pages.items.map((c) => c.id));
  // Ones added here follow the loaded ones until the page that holds them is loaded.
  const shown = [...pages.items, ...added.filter((c) => !loaded.has(c.id))];
  return (
    <>
      {shown.length > 0 && (
        <ul>
          {shown.map((c) => (
            <li key={c.id}>
              <strong>{c.author.username}</strong>{' '}
              <Caption text={c.text} post={{ hashtags: [], mentions: c.mentions }} />
            </li>
          ))}
        </ul>
      )}
      <LoadMore pages={pages} label="More comments" />
    </>
  );
}
