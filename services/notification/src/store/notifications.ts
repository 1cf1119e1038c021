import { enqueue, withInbox } from '@instantpost/bus';
import type { AnyCloudEvent } from '@instantpost/events';
import { inTransaction, onShard, type ShardConn, type Shards, type ShardTx } from '@instantpost/shards';
import {
  type Intent,
  LATEST_ACTORS,
  type NotificationKind,
  type StoredNotification,
} from '../domain/types.ts';

interface Row {
  id: string;
  recipient_id: string;
  kind: NotificationKind;
  post_id: string | null;
  comment_id: string | null;
  actor_count: number;
  version: string;
  last_at: Date;
  read_at: Date | null;
  actor_ids: (string | bigint)[];
}

function toStored(row: Row): StoredNotification {
  return {
    id: String(row.id),
    recipientId: String(row.recipient_id),
    kind: row.kind,
    postId: row.post_id === null ? null : String(row.post_id),
    commentId: row.comment_id === null ? null : String(row.comment_id),
    actorCount: row.actor_count,
    version: String(row.version),
    lastAt: row.last_at,
    readAt: row.read_at,
    actorIds: row.actor_ids.map(String),
  };
}

/** The reads of one shard (the recipient's), on its pool or in a transaction. */
function reads(s: ShardConn) {
  const { sql } = s;
  /** The columns of an item plus its latest actors. */
  const selectItems = () => sql`
    SELECT n.id, n.recipient_id, n.kind, n.post_id, n.comment_id, n.actor_count, n.version, n.last_at, n.read_at,
      ARRAY(SELECT a.actor_id FROM ${s.table('notification_actors')} a
            WHERE a.notification_id = n.id ORDER BY a.acted_at DESC, a.actor_id DESC LIMIT ${LATEST_ACTORS}) AS actor_ids
    FROM ${s.table('notifications')} n`;

  return {
    async notificationById(recipientId: string, id: string): Promise<StoredNotification | undefined> {
      const [row] = await sql<Row[]>`${selectItems()} WHERE n.recipient_id = ${recipientId} AND n.id = ${id}`;
      return row ? toStored(row) : undefined;
    },

    /** A page of the recipient's list, latest activity first, strictly older than `beforeVersion`. */
    async listNotifications(
      recipientId: string,
      beforeVersion: string | undefined,
      limit: number,
    ): Promise<StoredNotification[]> {
      const rows = await sql<Row[]>`
        ${selectItems()}
        WHERE n.recipient_id = ${recipientId} ${beforeVersion === undefined ? sql`` : sql`AND n.version < ${beforeVersion}`}
        ORDER BY n.version DESC LIMIT ${limit}`;
      return rows.map(toStored);
    },

    /** What a stream missed: items announced after `afterVersion`, oldest first. */
    async notificationsSince(
      recipientId: string,
      afterVersion: string,
      limit: number,
    ): Promise<StoredNotification[]> {
      const rows = await sql<Row[]>`
        ${selectItems()}
        WHERE n.recipient_id = ${recipientId} AND n.version > ${afterVersion}
        ORDER BY n.version ASC LIMIT ${limit}`;
      return rows.map(toStored);
    },

    async countUnread(recipientId: string): Promise<number> {
      const [row] = await sql<{ count: number }[]>`
        SELECT count(*)::int AS count FROM ${s.table('notifications')}
        WHERE recipient_id = ${recipientId} AND read_at IS NULL`;
      return row?.count ?? 0;
    },

    /** Marks unread items read: all of them, or those announced at or before `upToVersion`. */
    async markRead(recipientId: string, upToVersion: string | undefined): Promise<number> {
      const result = await sql`
        UPDATE ${s.table('notifications')} SET read_at = now()
        WHERE recipient_id = ${recipientId} AND read_at IS NULL
          ${upToVersion === undefined ? sql`` : sql`AND version <= ${upToVersion}`}`;
      return result.count;
    },
  };
}

/**
 * The writes of one shard (the recipient's) inside a handler's transaction, with the reads, the consumer's
 * inbox and the outbox of that transaction.
 */
function writes(tx: ShardTx, consumer: string) {
  const { sql, schema } = tx;
  const read = reads(tx);
  return {
    ...read,

    /** Claims `key` in the consumer's inbox; false when it was handled before (nothing to do). */
    claim: (key: string): Promise<boolean> => withInbox(sql, schema, consumer, key),

    /** Claims an event once for this shard (a fan-out over every shard): inbox key `<event id>:<schema>`. */
    claimOnShard: (eventId: string): Promise<boolean> =>
      withInbox(sql, schema, consumer, `${eventId}:${schema}`),

    /** Writes an event to the outbox, published after the commit. */
    enqueue: (event: AnyCloudEvent): Promise<void> => enqueue(sql, schema, event),

    /** Stores a new item with its one actor. */
    async insertNotification(intent: Intent): Promise<StoredNotification> {
      // Item and actor in one statement (one round trip): the CTE's row satisfies the foreign key.
      const [row] = await sql<{ id: string; version: string }[]>`
        WITH n AS (
          INSERT INTO ${tx.table('notifications')} (recipient_id, kind, post_id, comment_id, first_at, last_at)
          VALUES (${intent.recipientId}, ${intent.kind}, ${intent.postId ?? null}, ${intent.commentId ?? null},
                  ${intent.at}, ${intent.at})
          RETURNING id, version)
        INSERT INTO ${tx.table('notification_actors')} (notification_id, actor_id, acted_at)
        SELECT n.id, ${intent.actorId}, ${intent.at} FROM n
        RETURNING notification_id AS id, (SELECT version FROM n) AS version`;
      if (!row) throw new Error('insert returned no row');
      return {
        id: String(row.id),
        recipientId: intent.recipientId,
        kind: intent.kind,
        postId: intent.postId ?? null,
        commentId: intent.commentId ?? null,
        actorCount: 1,
        version: String(row.version),
        lastAt: intent.at,
        readAt: null,
        actorIds: [intent.actorId],
      };
    },

    /** Serializes the writers of one recipient's like groups of one post (two likes must not open two groups). */
    async lockLikeGroups(recipientId: string, postId: string): Promise<void> {
      await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`${schema}:${recipientId}:${postId}`}, 0))`;
    },

    /** The unread like group of a post that a like may still join (opened at or after `notBefore`). */
    async openLikeGroup(recipientId: string, postId: string, notBefore: Date): Promise<string | undefined> {
      const [row] = await sql<{ id: string }[]>`
        SELECT id FROM ${tx.table('notifications')}
        WHERE recipient_id = ${recipientId} AND post_id = ${postId} AND kind = 'like' AND read_at IS NULL
          AND first_at >= ${notBefore}
        ORDER BY version DESC LIMIT 1`;
      return row ? String(row.id) : undefined;
    },

    /**
     * Adds (or refreshes) an actor of a group and announces the group again (new version). Returns the
     * item, or undefined when the actor was already in it (nothing new to announce).
     */
    async joinGroup(
      recipientId: string,
      notificationId: string,
      actorId: string,
      at: Date,
    ): Promise<StoredNotification | undefined> {
      const added = await sql`
        INSERT INTO ${tx.table('notification_actors')} (notification_id, actor_id, acted_at)
        VALUES (${notificationId}, ${actorId}, ${at})
        ON CONFLICT (notification_id, actor_id) DO NOTHING
        RETURNING 1`;
      if (added.length === 0) return undefined;
      await sql`
        UPDATE ${tx.table('notifications')}
        SET actor_count = actor_count + 1, last_at = GREATEST(last_at, ${at}), version = ${sql(schema)}.next_id()
        WHERE id = ${notificationId}`;
      return read.notificationById(recipientId, notificationId);
    },

    /**
     * Takes an actor out of the recipient's unread like groups of a post (an unlike before it was seen).
     * Returns how many unread items disappeared because their last actor left.
     */
    async leaveUnreadLikeGroups(recipientId: string, postId: string, actorId: string): Promise<number> {
      const left = await sql<{ id: string }[]>`
        DELETE FROM ${tx.table('notification_actors')} a
        USING ${tx.table('notifications')} n
        WHERE a.notification_id = n.id AND a.actor_id = ${actorId}
          AND n.recipient_id = ${recipientId} AND n.post_id = ${postId} AND n.kind = 'like' AND n.read_at IS NULL
        RETURNING n.id`;
      if (left.length === 0) return 0;
      const ids = left.map((r) => String(r.id));
      await sql`
        UPDATE ${tx.table('notifications')} SET actor_count = actor_count - 1 WHERE id = ANY(${ids}::bigint[])`;
      const emptied = await sql`
        DELETE FROM ${tx.table('notifications')} WHERE id = ANY(${ids}::bigint[]) AND actor_count <= 0 RETURNING 1`;
      return emptied.length;
    },

    /** Remembers an unlike (the newest one wins), so the like it undoes is ignored if it arrives later. */
    async rememberUnlike(unlike: {
      recipientId: string;
      postId: string;
      actorId: string;
      at: Date;
    }): Promise<void> {
      await sql`
        INSERT INTO ${tx.table('unlikes')} (recipient_id, post_id, actor_id, unliked_at)
        VALUES (${unlike.recipientId}, ${unlike.postId}, ${unlike.actorId}, ${unlike.at})
        ON CONFLICT (recipient_id, post_id, actor_id)
        DO UPDATE SET unliked_at = greatest(${tx.table('unlikes')}.unliked_at, excluded.unliked_at)`;
    },

    /** Whether the actor unliked the post at or after `at` (the like at `at` was undone before it arrived). */
    async undoneByUnlike(like: {
      recipientId: string;
      postId: string;
      actorId: string;
      at: Date;
    }): Promise<boolean> {
      const rows = await sql`
        SELECT 1 FROM ${tx.table('unlikes')}
        WHERE recipient_id = ${like.recipientId} AND post_id = ${like.postId} AND actor_id = ${like.actorId}
          AND unliked_at >= ${like.at}`;
      return rows.length > 0;
    },

    /** An approved request becomes "started following you" for the account that approved it. */
    async convertFollowRequests(recipientId: string, actorId: string): Promise<void> {
      await sql`
        UPDATE ${tx.table('notifications')} n SET kind = 'follow'
        WHERE n.recipient_id = ${recipientId} AND n.kind = 'follow_request'
          AND EXISTS (SELECT 1 FROM ${tx.table('notification_actors')} a
                      WHERE a.notification_id = n.id AND a.actor_id = ${actorId})`;
    },

    /** A withdrawn or denied request disappears. Returns how many of the removed items were unread. */
    async deleteFollowRequests(recipientId: string, actorId: string): Promise<number> {
      const rows = await sql<{ unread: boolean }[]>`
        DELETE FROM ${tx.table('notifications')} n
        WHERE n.recipient_id = ${recipientId} AND n.kind = 'follow_request'
          AND EXISTS (SELECT 1 FROM ${tx.table('notification_actors')} a
                      WHERE a.notification_id = n.id AND a.actor_id = ${actorId})
        RETURNING n.read_at IS NULL AS unread`;
      return rows.filter((r) => r.unread).length;
    },

    /** Every item of this shard about a deleted post goes; the recipients and how many were unread. */
    async deletePostNotifications(postId: string): Promise<{ recipientId: string; unread: number }[]> {
      return sql<{ recipientId: string; unread: number }[]>`
        WITH removed AS (
          DELETE FROM ${tx.table('notifications')} WHERE post_id = ${postId}
          RETURNING recipient_id, read_at IS NULL AS unread)
        SELECT recipient_id::text AS "recipientId", count(*) FILTER (WHERE unread)::int AS unread
        FROM removed GROUP BY recipient_id`;
    },
  };
}

/** A recipient's shard inside one transaction: its reads and writes, the consumer's inbox and the outbox. */
export type NotificationTx = ReturnType<typeof writes>;

/**
 * Notifications, each on its recipient's shard. Reads route by recipient; a handler's writes run in
 * `inTransaction(recipientId, consumer, …)` (or `inEveryShard`), where the domain decides between them.
 */
export function notificationStore(shards: Shards) {
  const of = (recipientId: string) => reads(shards.forId(recipientId));
  return {
    notificationById: (recipientId: string, id: string) => of(recipientId).notificationById(recipientId, id),
    listNotifications: (recipientId: string, beforeVersion: string | undefined, limit: number) =>
      of(recipientId).listNotifications(recipientId, beforeVersion, limit),
    notificationsSince: (recipientId: string, afterVersion: string, limit: number) =>
      of(recipientId).notificationsSince(recipientId, afterVersion, limit),
    countUnread: (recipientId: string) => of(recipientId).countUnread(recipientId),
    markRead: (recipientId: string, upToVersion: string | undefined) =>
      onShard(shards.forId(recipientId), (s) => reads(s).markRead(recipientId, upToVersion)),

    /** Runs `work` in one transaction on the recipient's shard, with `consumer`'s inbox. */
    inTransaction: <T>(recipientId: string, consumer: string, work: (tx: NotificationTx) => Promise<T>) =>
      inTransaction(shards.forId(recipientId), (tx) => work(writes(tx, consumer))),

    /** Runs `work` once on every shard, each in its own transaction; results in shard order. */
    inEveryShard: <T>(consumer: string, work: (tx: NotificationTx) => Promise<T>) =>
      shards.fanOut((shard) => inTransaction(shard, (tx) => work(writes(tx, consumer)))),
  };
}

export type NotificationStore = ReturnType<typeof notificationStore>;
