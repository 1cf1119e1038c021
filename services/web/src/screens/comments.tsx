import { useState } from 'preact/hooks';
import type { ApiClient } from '../api/client.ts';
import { messageOf } from '../api/errors.ts';
import type { Comment, CommentPage, Post } from '../api/types.ts';
import { Caption } from '../ui/caption.tsx';

/** A post's comments, oldest first, opened on demand, and a field to add one. */
export function Comments({ api, post }: { api: ApiClient; post: Post }) {
  const [open, setOpen] = useState(false);
  const [comments, setComments] = useState<Comment[]>();
  const [total, setTotal] = useState(post.commentCount);
  const [error, setError] = useState<string>();
  const [sending, setSending] = useState(false);
  const listId = `post-${post.id}-comments`;

  const load = async () => {
    try {
      const page = await api.get<CommentPage>(`/v1/posts/${post.id}/comments?limit=100`);
      setComments(page.items);
    } catch (err) {
      setError(messageOf(err));
    }
  };

  const toggle = () => {
    const next = !open;
    setOpen(next);
    if (next && !comments) void load();
  };

  const send = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const text = String(new FormData(form).get('text') ?? '').trim();
    if (!text) return;
    setSending(true);
    setError(undefined);
    try {
      const added = await api.post<Comment>(`/v1/posts/${post.id}/comments`, { text });
      setComments((list) => [...(list ?? []), added]);
      setTotal((n) => n + 1);
      setOpen(true);
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
        {comments && comments.length > 0 && (
          <ul>
            {comments.map((c) => (
              <li key={c.id}>
                <strong>{c.author.username}</strong>{' '}
                <Caption text={c.text} post={{ hashtags: [], mentions: c.mentions }} />
              </li>
            ))}
          </ul>
        )}
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
