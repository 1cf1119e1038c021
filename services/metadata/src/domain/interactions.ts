import type { InteractionWrites } from '../store/interaction-writes.ts';
import type { CommentRow, PostStore } from '../store/posts.ts';
import { parseCaption } from './caption.ts';
import { accountNotFound, postNotFound } from './errors.ts';
import { metadataEvent } from './events.ts';
import type { Page, Paged } from './input.ts';
import { paged } from './input.ts';
import type { People } from './people.ts';
import type { Posts } from './posts.ts';
import { type Account, summaryOf, type UserSummary } from './views.ts';

const MEMO_ENTRIES = 100_000;
/** How long a like may see an author's earlier private switch (the Redis copy lags its change too). */
const ACCOUNT_MEMO_MS = 1000;

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

  // A post's author never changes: kept in process (bounded), no Redis round trip per like of a known post.
  const authors = new Map<string, string>();
  // The author's account (its private switch) for ACCOUNT_MEMO_MS: a hot post's likes share one read.
  const accounts = new Map<string, { at: number; account: Promise<Account | undefined> }>();

  const authorOf = async (postId: string): Promise<string | undefined> => {
    const known = authors.get(postId);
    if (known !== undefined) return known;
    const authorId = await postsDomain.authorOf(postId);
    if (authorId !== undefined) {
      if (authors.size >= MEMO_ENTRIES) authors.clear();
      authors.set(postId, authorId);
    }
    return authorId;
  };

  const accountOf = (authorId: string): Promise<Account | undefined> => {
    const now = Date.now();
    const memo = accounts.get(authorId);
    if (memo && now - memo.at < ACCOUNT_MEMO_MS) return memo.account;
    if (accounts.size >= MEMO_ENTRIES) accounts.clear();
    const account = people.account(authorId);
    accounts.set(authorId, { at: now, account });
    account.catch(() => accounts.delete(authorId));
    return account;
  };

  // The likers' own flag changes (after their commits) of the likes answered in one turn of the event loop
  // (group commit answers a batch at once) go to Redis together, one MULTI, before those likes are answered.
  let pendingFlags: Map<string, Set<string>> | undefined;
  let flagsWritten: Promise<void> = Promise.resolve();
  const likeChanged = (userId: string, postId: string): Promise<void> => {
    if (!pendingFlags) {
      const changes = new Map<string, Set<string>>();
      pendingFlags = changes;
      flagsWritten = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        pendingFlags = undefined;
        return postsDomain.likesChanged(changes);
      });
    }
    const posts = pendingFlags.get(userId) ?? new Set<string>();
    posts.add(postId);
    pendingFlags.set(userId, posts);
    return flagsWritten;
  };

  /**
   * The post's author when the viewer may see the post, else 404. Whether the post is still live is
   * checked by the write itself; a private author's follower check reads the follow cache or Postgres.
   */
  const visibleAuthor = async (viewerId: string, postId: string): Promise<string> => {
    const authorId = await authorOf(postId);
    const author = authorId === undefined ? undefined : await accountOf(authorId);
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
      const authorId = await visibleAuthor(userId, postId);
      const result = await deps.writes.setLike(postId, userId, liked, authorId, (postAuthorId) =>
        metadataEvent(liked ? 'like.created' : 'like.deleted', { postId, postAuthorId, userId }, postId),
      );
      // The cached post stays: its counts change when the counters consumer applies the event.
      if (result === 'missing') throw postNotFound();
      // The liker's own cached like flag goes now; the event drops it again for every replica.
      if (result === 'changed') await likeChanged(userId, postId);
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
