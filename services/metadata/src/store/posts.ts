import { enqueue } from '@instantpost/bus';
import type { AnyCloudEvent, EventData } from '@instantpost/events';
import { groupByShard, inTransaction, onShard, type Shards } from '@instantpost/shards';
import { onKnownShard } from './sql.ts';

export type StoredRendition = EventData<'media.processed'>['renditions'][number];
export type StoredMention = { userId: string; username: string };

/** A post as stored (counts included). */
export interface PostRow {
  id: string;
  author_id: string;
  caption: string;
  hashtags: string[];
  mentions: StoredMention[];
  alt_text: string | null;
  width: number;
  height: number;
  blurhash: string;
  renditions: StoredRendition[];
  like_count: number;
  comment_count: number;
  created_at: Date;
  deleted_at: Date | null;
}

export interface NewPost {
  id: string;
  authorId: string;
  caption: string;
  hashtags: string[];
  mentions: StoredMention[];
  altText: string | undefined;
  width: number;
  height: number;
  blurhash: string;
  renditions: StoredRendition[];
}

export interface CommentRow {
  id: string;
  post_id: string;
  author_id: string;
  text: string;
  mentions: StoredMention[];
  created_at: Date;
}

const POST_COLUMNS = [
  'id',
  'author_id',
  'caption',
  'hashtags',
  'mentions',
  'alt_text',
  'width',
  'height',
  'blurhash',
  'renditions',
  'like_count',
  'comment_count',
  'created_at',
  'deleted_at',
] as const;

/** Posts (author's shard), likes and comments (post's shard) and the tag index (tag's hashed shard). */
export function postStore(shards: Shards) {
  const tagShard = (tag: string) => shards.forShard(shards.shardForKey(tag));

  return {
    /**
     * Inserts the post with the event built from the stored row, once: a post that exists already (a
     * redelivered `media.processed`) is left alone and no event is written. Returns whether it was new.
     */
    async insertPost(post: NewPost, eventFor: (row: PostRow) => AnyCloudEvent): Promise<boolean> {
      const shard = shards.forId(post.id);
      return inTransaction(shard, async (tx) => {
        const [row] = await tx.sql<PostRow[]>`
          INSERT INTO ${tx.table('posts')}
            (id, author_id, caption, hashtags, mentions, alt_text, width, height, blurhash, renditions)
          VALUES (${post.id}, ${post.authorId}, ${post.caption}, ${post.hashtags}::text[],
            ${tx.sql.json(post.mentions)}, ${post.altText ?? null}, ${post.width}, ${post.height},
            ${post.blurhash}, ${tx.sql.json(post.renditions)})
          ON CONFLICT (id) DO NOTHING
          RETURNING ${tx.sql(POST_COLUMNS)}`;
        if (!row) return false;
        await enqueue(tx.sql, tx.schema, eventFor(row));
        return true;
      });
    },

    /** The post, deleted or not (undefined when it never existed). */
    async postById(id: string): Promise<PostRow | undefined> {
      if (!onKnownShard(shards, id)) return undefined;
      const shard = shards.forId(id);
      const [row] = await shard.sql<PostRow[]>`
        SELECT ${shard.sql(POST_COLUMNS)} FROM ${shard.table('posts')} WHERE id = ${id}`;
      return row;
    },

    /** Live posts by id, one query per shard. */
    async livePostsByIds(ids: readonly string[]): Promise<Map<string, PostRow>> {
      const out = new Map<string, PostRow>();
      for (const { shard, items: group } of groupByShard(shards, [...new Set(ids)]).groups) {
        const rows = await shard.sql<PostRow[]>`
          SELECT ${shard.sql(POST_COLUMNS)} FROM ${shard.table('posts')}
          WHERE id = ANY(${group}::bigint[]) AND deleted_at IS NULL`;
        for (const row of rows) out.set(row.id, row);
      }
      return out;
    },

    /** The author's live posts, newest first. */
    async gridOf(authorId: string, after: string | undefined, limit: number): Promise<PostRow[]> {
      const shard = shards.forId(authorId);
      return shard.sql<PostRow[]>`
        SELECT ${shard.sql(POST_COLUMNS)} FROM ${shard.table('posts')}
        WHERE author_id = ${authorId} AND deleted_at IS NULL
          ${after === undefined ? shard.sql`` : shard.sql`AND id < ${after}`}
        ORDER BY id DESC LIMIT ${limit}`;
    },

    /** Marks the post deleted with its event; false when it was already gone. */
    async deletePost(id: string, event: AnyCloudEvent): Promise<boolean> {
      const shard = shards.forId(id);
      return inTransaction(shard, async (tx) => {
        const rows = await tx.sql`
          UPDATE ${tx.table('posts')} SET deleted_at = now()
          WHERE id = ${id} AND deleted_at IS NULL RETURNING 1`;
        if (rows.length === 0) return false;
        await enqueue(tx.sql, tx.schema, event);
        return true;
      });
    },

    /** Which of `postIds` `userId` has liked. */
    async likedBy(userId: string, postIds: readonly string[]): Promise<Set<string>> {
      const out = new Set<string>();
      for (const { shard, items: group } of groupByShard(shards, [...new Set(postIds)]).groups) {
        const rows = await shard.sql<{ post_id: string }[]>`
          SELECT post_id FROM ${shard.table('likes')} WHERE user_id = ${userId} AND post_id = ANY(${group}::bigint[])`;
        for (const row of rows) out.add(row.post_id);
      }
      return out;
    },

    /**
     * Every post `userId` has liked (likes live on the post's shard: one indexed read per shard), or
     * undefined when there are more than `max` (then callers ask post by post).
     */
    async likesOf(userId: string, max: number): Promise<Set<string> | undefined> {
      const lists = await shards.fanOut(async (shard) => {
        const rows = await shard.sql<{ post_id: string }[]>`
          SELECT post_id FROM ${shard.table('likes')} WHERE user_id = ${userId} LIMIT ${max + 1}`;
        return rows.map((row) => String(row.post_id));
      });
      const all = new Set(lists.flat());
      return all.size > max ? undefined : all;
    },

    /** Comments of a post, oldest first. */
    async commentsOf(postId: string, after: string | undefined, limit: number): Promise<CommentRow[]> {
      const shard = shards.forId(postId);
      return shard.sql<CommentRow[]>`
        SELECT id, post_id, author_id, text, mentions, created_at FROM ${shard.table('comments')}
        WHERE post_id = ${postId} ${after === undefined ? shard.sql`` : shard.sql`AND id > ${after}`}
        ORDER BY id LIMIT ${limit}`;
    },

    /** Indexes the post under each tag, on each tag's shard (idempotent). */
    async indexTags(postId: string, authorId: string, tags: readonly string[]): Promise<void> {
      for (const tag of tags) {
        await onShard(
          tagShard(tag),
          (s) => s.sql`
            INSERT INTO ${s.table('tag_posts')} (tag, post_id, author_id) VALUES (${tag}, ${postId}, ${authorId})
            ON CONFLICT DO NOTHING`,
        );
      }
    },

    async unindexTags(postId: string, tags: readonly string[]): Promise<void> {
      for (const tag of tags) {
        await onShard(
          tagShard(tag),
          (s) => s.sql`DELETE FROM ${s.table('tag_posts')} WHERE tag = ${tag} AND post_id = ${postId}`,
        );
      }
    },

    /** Post ids under a tag, newest first. */
    async taggedPostIds(tag: string, after: string | undefined, limit: number): Promise<string[]> {
      const shard = tagShard(tag);
      const rows = await shard.sql<{ post_id: string }[]>`
        SELECT post_id FROM ${shard.table('tag_posts')}
        WHERE tag = ${tag} ${after === undefined ? shard.sql`` : shard.sql`AND post_id < ${after}`}
        ORDER BY post_id DESC LIMIT ${limit}`;
      return rows.map((r) => r.post_id);
    },
  };
}

export type PostStore = ReturnType<typeof postStore>;
