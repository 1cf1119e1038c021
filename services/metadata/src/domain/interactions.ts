import type { InteractionWrites } from '../store/interaction-writes.ts';
import type { CommentRow, PostStore } from '../store/posts.ts';
import { parseCaption } from './caption.ts';
import { accountNotFound, postNotFound } from './errors.ts';
import { metadataEvent } from './events.ts';
import type { Page, Paged } from './input.ts';
import { paged } from './input.ts';
import type { People } from './people.ts';
import type { Posts } from './posts.ts';
import { summaryOf, type UserSummary } from './views.ts';

export interface CommentView {
  id: string;
  author: UserSummary;
  text: string;
  mentions: { userId: string; username: string }[];
  createdAt: string;
}

/**
 * Likes and comments, on the post's shard; their events carry `postAuthorId`. Writes go through group
 * commit (`writes`): many requests, one transaction, each answered after its commit.
 */
export function interactions(deps: {
  posts: PostStore;
  writes: InteractionWrites;
  postsDomain: Posts;
  people: People;
}) {
  const { people, postsDomain } = deps;

  /** The post's author when the viewer may see the post, else 404. */
  const visibleAuthor = async (viewerId: string, postId: string): Promise<string> => {
    const authorId = await postsDomain.authorOf(postId);
    const author = authorId === undefined ? undefined : await people.account(authorId);
    if (!author || !(await people.canSee(viewerId, author))) throw postNotFound();
    return author.id;
  };

  const commentViews = async (rows: CommentRow[]): Promise<CommentView[]> => {
    const authors = await people.accounts(rows.map((r) => r.author_id));
    return rows.flatMap((r) => {
      const author = authors.get(r.author_id);
      return author
        ? [
            {
              id: r.id,
              author: summaryOf(author),
              text: r.text,
              mentions: r.mentions,
              createdAt: new Date(r.created_at).toISOString(),
            },
          ]
        : [];
    });
  };

  return {
    /** Idempotent: liking twice (or unliking what was not liked) changes nothing and sends no event. */
    async setLike(userId: string, postId: string, liked: boolean): Promise<void> {
      await visibleAuthor(userId, postId);
      const result = await deps.writes.setLike(postId, userId, liked, (postAuthorId) =>
        metadataEvent(liked ? 'like.created' : 'like.deleted', { postId, postAuthorId, userId }, postId),
      );
      // The cached post stays: its counts change when the counters consumer applies the event.
      if (result === 'missing') throw postNotFound();
    },

    async comment(userId: string, postId: string, text: string): Promise<CommentView> {
      await visibleAuthor(userId, postId);
      const mentions = await postsDomain.resolveMentions(parseCaption(text).mentionNames);
      const row = await deps.writes.addComment(postId, userId, text, mentions, (comment, postAuthorId) =>
        metadataEvent(
          'comment.created',
          { commentId: comment.id, postId, postAuthorId, userId, text, mentions },
          postId,
        ),
      );
      if (!row) throw postNotFound();
      const [view] = await commentViews([row]);
      if (!view) throw accountNotFound();
      return view;
    },

    async comments(viewerId: string | undefined, postId: string, page: Page): Promise<Paged<CommentView>> {
      const post = await postsDomain.livePost(postId);
      const author = post ? await people.account(post.author_id) : undefined;
      if (!author || !(await people.canSee(viewerId, author))) throw postNotFound();
      const rows = await deps.posts.commentsOf(postId, page.after?.toString(), page.limit + 1);
      const views = await commentViews(rows.slice(0, page.limit));
      return {
        ...paged(
          rows,
          page.limit,
          (r) => r.id,
          () => views,
        ),
      };
    },
  };
}
