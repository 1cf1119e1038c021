import { useEffect, useState } from 'preact/hooks';
import type { ApiClient } from '../api/client.ts';
import { ApiError, messageOf } from '../api/errors.ts';
import type { Post, PostById } from '../api/types.ts';
import { navigate } from '../router.ts';
import { PostCard } from './post-card.tsx';

/** A post's own page (/p/<id>): the post with its comments open; deleting it leads to one's profile. */
export function PostPage({ api, id }: { api: ApiClient; id: string }) {
  const [post, setPost] = useState<Post>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    let live = true;
    api
      .get<PostById>(`/v1/posts/${id}`)
      // The same shape as a feed's post (a type error here if the API's two ever differ).
      .then((found) => live && setPost(found))
      .catch((err: unknown) => {
        if (!live) return;
        setError(
          err instanceof ApiError && err.status === 404
            ? 'This post was deleted, or its author’s account is private.'
            : messageOf(err),
        );
      });
    return () => {
      live = false;
    };
  }, [api, id]);

  const me = api.tokens.user?.username;
  return (
    <main>
      <h1 class="visually-hidden">{post ? `Post by ${post.author.username}` : 'Post'}</h1>
      {post ? (
        <PostCard
          api={api}
          post={post}
          eager={true}
          first={true}
          commentsOpen={true}
          onDeleted={() => navigate(me ? { name: 'profile', username: me } : { name: 'home' })}
        />
      ) : error ? (
        <p role="alert" class="empty">
          {error}
        </p>
      ) : (
        <p class="loading">Loading…</p>
      )}
    </main>
  );
}
