import type postgres from 'postgres';
import {
  type Intent,
  LATEST_ACTORS,
  type NotificationKind,
  type StoredNotification,
} from '../domain/types.ts';

// SQL of the notification tables of one shard schema. Every function takes the schema it works in
// (the recipient's shard) and a connection or the handler's transaction.

type Sql = postgres.Sql | postgres.TransactionSql;

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

const t = (sql: Sql, schema: string, name: string) => sql(`${schema}.${name}`);

/** The columns of an item plus its latest actors. */
function selectItems(sql: Sql, schema: string) {
  return sql`
    SELECT n.id, n.recipient_id, n.kind, n.post_id, n.comment_id, n.actor_count, n.version, n.last_at, n.read_at,
      ARRAY(SELECT a.actor_id FROM ${t(sql, schema, 'notification_actors')} a
            WHERE a.notification_id = n.id ORDER BY a.acted_at DESC, a.actor_id DESC LIMIT ${LATEST_ACTORS}) AS actor_ids
    FROM ${t(sql, schema, 'notifications')} n`;
}

/** Stores a new item with its one actor. */
export async function insertNotification(
  tx: Sql,
  schema: string,
  intent: Intent,
): Promise<StoredNotification> {
  // Item and actor in one statement (one round trip): the CTE's row satisfies the foreign key.
  const [row] = await tx<{ id: string; version: string }[]>`
    WITH n AS (
      INSERT INTO ${t(tx, schema, 'notifications')} (recipient_id, kind, post_id, comment_id, first_at, last_at)
      VALUES (${intent.recipientId}, ${intent.kind}, ${intent.postId ?? null}, ${intent.commentId ?? null},
              ${intent.at}, ${intent.at})
      RETURNING id, version)
    INSERT INTO ${t(tx, schema, 'notification_actors')} (notification_id, actor_id, acted_at)
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
}

/** Serializes the writers of one recipient's like groups of one post (two likes must not open two groups). */
export async function lockLikeGroups(
  tx: Sql,
  schema: string,
  recipientId: string,
  postId: string,
): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(hashtextextended(${`${schema}:${recipientId}:${postId}`}, 0))`;
}

/** The unread like group of a post that a like at `at` may still join (opened at or after `notBefore`). */
export async function openLikeGroup(
  tx: Sql,
  schema: string,
  recipientId: string,
  postId: string,
  notBefore: Date,
): Promise<string | undefined> {
  const [row] = await tx<{ id: string }[]>`
    SELECT id FROM ${t(tx, schema, 'notifications')}
    WHERE recipient_id = ${recipientId} AND post_id = ${postId} AND kind = 'like' AND read_at IS NULL
      AND first_at >= ${notBefore}
    ORDER BY version DESC LIMIT 1`;
  return row ? String(row.id) : undefined;
}

/**
 * Adds (or refreshes) an actor of a group and announces the group again (new version). Returns the
 * item, or undefined when the actor was already in it (nothing new to announce).
 */
export async function joinGroup(
  tx: Sql,
  schema: string,
  recipientId: string,
  notificationId: string,
  actorId: string,
  at: Date,
): Promise<StoredNotification | undefined> {
  const added = await tx`
    INSERT INTO ${t(tx, schema, 'notification_actors')} (notification_id, actor_id, acted_at)
    VALUES (${notificationId}, ${actorId}, ${at})
    ON CONFLICT (notification_id, actor_id) DO NOTHING
    RETURNING 1`;
  if (added.length === 0) return undefined;
  await tx`
    UPDATE ${t(tx, schema, 'notifications')}
    SET actor_count = actor_count + 1, last_at = GREATEST(last_at, ${at}), version = ${tx(schema)}.next_id()
    WHERE id = ${notificationId}`;
  return notificationById(tx, schema, recipientId, notificationId);
}

/**
 * Takes an actor out of the recipient's unread like groups of a post (an unlike before it was seen).
 * Returns how many unread items disappeared because their last actor left.
 */
export async function leaveUnreadLikeGroups(
  tx: Sql,
  schema: string,
  recipientId: string,
  postId: string,
  actorId: string,
): Promise<number> {
  const left = await tx<{ id: string }[]>`
    DELETE FROM ${t(tx, schema, 'notification_actors')} a
    USING ${t(tx, schema, 'notifications')} n
    WHERE a.notification_id = n.id AND a.actor_id = ${actorId}
      AND n.recipient_id = ${recipientId} AND n.post_id = ${postId} AND n.kind = 'like' AND n.read_at IS NULL
    RETURNING n.id`;
  if (left.length === 0) return 0;
  const ids = left.map((r) => String(r.id));
  await tx`
    UPDATE ${t(tx, schema, 'notifications')} SET actor_count = actor_count - 1 WHERE id = ANY(${ids}::bigint[])`;
  const emptied = await tx`
    DELETE FROM ${t(tx, schema, 'notifications')} WHERE id = ANY(${ids}::bigint[]) AND actor_count <= 0 RETURNING 1`;
  return emptied.length;
}

/** Remembers an unlike (the newest one wins), so the like it undoes is ignored if it arrives later. */
export async function rememberUnlike(
  tx: Sql,
  schema: string,
  unlike: { recipientId: string; postId: string; actorId: string; at: Date },
): Promise<void> {
  await tx`
    INSERT INTO ${t(tx, schema, 'unlikes')} (recipient_id, post_id, actor_id, unliked_at)
    VALUES (${unlike.recipientId}, ${unlike.postId}, ${unlike.actorId}, ${unlike.at})
    ON CONFLICT (recipient_id, post_id, actor_id)
    DO UPDATE SET unliked_at = greatest(${t(tx, schema, 'unlikes')}.unliked_at, excluded.unliked_at)`;
}

/** Whether the actor unliked the post at or after `at` (the like at `at` was undone before it arrived). */
export async function undoneByUnlike(
  tx: Sql,
  schema: string,
  like: { recipientId: string; postId: string; actorId: string; at: Date },
): Promise<boolean> {
  const rows = await tx`
    SELECT 1 FROM ${t(tx, schema, 'unlikes')}
    WHERE recipient_id = ${like.recipientId} AND post_id = ${like.postId} AND actor_id = ${like.actorId}
      AND unliked_at >= ${like.at}`;
  return rows.length > 0;
}

/** An approved request becomes "started following you" for the account that approved it. */
export async function convertFollowRequests(
  tx: Sql,
  schema: string,
  recipientId: string,
  actorId: string,
): Promise<void> {
  await tx`
    UPDATE ${t(tx, schema, 'notifications')} n SET kind = 'follow'
    WHERE n.recipient_id = ${recipientId} AND n.kind = 'follow_request'
      AND EXISTS (SELECT 1 FROM ${t(tx, schema, 'notification_actors')} a
                  WHERE a.notification_id = n.id AND a.actor_id = ${actorId})`;
}

/** A withdrawn or denied request disappears. Returns how many of the removed items were unread. */
export async function deleteFollowRequests(
  tx: Sql,
  schema: string,
  recipientId: string,
  actorId: string,
): Promise<number> {
  const rows = await tx<{ unread: boolean }[]>`
    DELETE FROM ${t(tx, schema, 'notifications')} n
    WHERE n.recipient_id = ${recipientId} AND n.kind = 'follow_request'
      AND EXISTS (SELECT 1 FROM ${t(tx, schema, 'notification_actors')} a
                  WHERE a.notification_id = n.id AND a.actor_id = ${actorId})
    RETURNING n.read_at IS NULL AS unread`;
  return rows.filter((r) => r.unread).length;
}

/** Every item about a deleted post goes (likes, comments, mentions); the recipients and how many were unread. */
export async function deletePostNotifications(
  tx: Sql,
  schema: string,
  postId: string,
): Promise<{ recipientId: string; unread: number }[]> {
  return tx<{ recipientId: string; unread: number }[]>`
    WITH removed AS (
      DELETE FROM ${t(tx, schema, 'notifications')} WHERE post_id = ${postId}
      RETURNING recipient_id, read_at IS NULL AS unread)
    SELECT recipient_id::text AS "recipientId", count(*) FILTER (WHERE unread)::int AS unread
    FROM removed GROUP BY recipient_id`;
}

export async function notificationById(
  sql: Sql,
  schema: string,
  recipientId: string,
  id: string,
): Promise<StoredNotification | undefined> {
  const [row] = await sql<
    Row[]
  >`${selectItems(sql, schema)} WHERE n.recipient_id = ${recipientId} AND n.id = ${id}`;
  return row ? toStored(row) : undefined;
}

/** A page of the recipient's list, latest activity first, strictly older than `beforeVersion`. */
export async function listNotifications(
  sql: Sql,
  schema: string,
  recipientId: string,
  beforeVersion: string | undefined,
  limit: number,
): Promise<StoredNotification[]> {
  const rows = await sql<Row[]>`
    ${selectItems(sql, schema)}
    WHERE n.recipient_id = ${recipientId} ${beforeVersion === undefined ? sql`` : sql`AND n.version < ${beforeVersion}`}
    ORDER BY n.version DESC LIMIT ${limit}`;
  return rows.map(toStored);
}

/** What a stream missed: items announced after `afterVersion`, oldest first. */
export async function notificationsSince(
  sql: Sql,
  schema: string,
  recipientId: string,
  afterVersion: string,
  limit: number,
): Promise<StoredNotification[]> {
  const rows = await sql<Row[]>`
    ${selectItems(sql, schema)}
    WHERE n.recipient_id = ${recipientId} AND n.version > ${afterVersion}
    ORDER BY n.version ASC LIMIT ${limit}`;
  return rows.map(toStored);
}

export async function countUnread(sql: Sql, schema: string, recipientId: string): Promise<number> {
  const [row] = await sql<{ count: number }[]>`
    SELECT count(*)::int AS count FROM ${t(sql, schema, 'notifications')}
    WHERE recipient_id = ${recipientId} AND read_at IS NULL`;
  return row?.count ?? 0;
}

/** Marks unread items read: all of them, or those announced at or before `upToVersion`. */
export async function markRead(
  sql: Sql,
  schema: string,
  recipientId: string,
  upToVersion: string | undefined,
): Promise<number> {
  const result = await sql`
    UPDATE ${t(sql, schema, 'notifications')} SET read_at = now()
    WHERE recipient_id = ${recipientId} AND read_at IS NULL
      ${upToVersion === undefined ? sql`` : sql`AND version <= ${upToVersion}`}`;
  return result.count;
}
