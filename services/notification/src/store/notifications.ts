import { enqueue, withInbox, withInboxBatch } from '@instantpost/bus';
import type { AnyCloudEvent } from '@instantpost/events';
import {
  groupByShard,
  inTransaction,
  inTransactionPerDatabase,
  onShard,
  type ShardConn,
  type Shards,
  type ShardTx,
} from '@instantpost/shards';
import type { LikeBatchPlan, StoredGroup, StoredMember, UnlikeMark } from '../domain/like-batch.ts';
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

/** The columns of an item plus its latest actors (`n`: the items). */
function selectItems(s: ShardConn) {
  return s.sql`
    SELECT n.id, n.recipient_id, n.kind, n.post_id, n.comment_id, n.actor_count, n.version, n.last_at, n.read_at,
      ARRAY(SELECT a.actor_id FROM ${s.table('notification_actors')} a
            WHERE a.notification_id = n.id ORDER BY a.acted_at DESC, a.actor_id DESC LIMIT ${LATEST_ACTORS}) AS actor_ids
    FROM ${s.table('notifications')} n`;
}

/** The reads of one shard (the recipient's), on its pool or in a transaction. */
function reads(s: ShardConn) {
  const { sql } = s;

  return {
    async notificationById(recipientId: string, id: string): Promise<StoredNotification | undefined> {
      const [row] = await sql<
        Row[]
      >`${selectItems(s)} WHERE n.recipient_id = ${recipientId} AND n.id = ${id}`;
      return row ? toStored(row) : undefined;
    },

    /** A page of the recipient's list, latest activity first, strictly older than `beforeVersion`. */
    async listNotifications(
      recipientId: string,
      beforeVersion: string | undefined,
      limit: number,
    ): Promise<StoredNotification[]> {
      const rows = await sql<Row[]>`
        ${selectItems(s)}
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
        ${selectItems(s)}
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

    /** `claim` for many keys in one statement: the keys that were not claimed before. */
    claimMany: (keys: readonly string[]): Promise<Set<string>> => withInboxBatch(sql, schema, consumer, keys),

    /** Claims an event once for this shard (a fan-out over every shard): inbox key `<event id>:<schema>`. */
    claimOnShard: (eventId: string): Promise<boolean> =>
      withInbox(sql, schema, consumer, `${eventId}:${schema}`),

    /** Writes an event to the outbox, published after the commit. */
    enqueue: (event: AnyCloudEvent | readonly AnyCloudEvent[]): Promise<void> => enqueue(sql, schema, event),

    /** Stores a new item with its one actor. */
    async insertNotification(intent: Intent): Promise<StoredNotification> {
      const [stored] = await this.insertNotifications([intent]);
      if (!stored) throw new Error('insert returned no row');
      return stored;
    },

    /**
     * `insertNotification` for many intents in one statement (ids minted first, each actor matched to its
     * item by position); the stored items, in the order of `intents`.
     */
    async insertNotifications(intents: readonly Intent[]): Promise<StoredNotification[]> {
      if (intents.length === 0) return [];
      const iso = (d: Date) => d.toISOString();
      const rows = await sql<{ ord: number; id: string; version: string }[]>`
        WITH x AS (
          SELECT ${sql(schema)}.next_id() AS id, x.* FROM unnest(${intents.map((_, i) => i)}::int[],
            ${intents.map((i) => i.recipientId)}::bigint[], ${intents.map((i) => i.kind)}::text[],
            ${intents.map((i) => i.postId ?? null)}::bigint[], ${intents.map((i) => i.commentId ?? null)}::bigint[],
            ${intents.map((i) => i.actorId)}::bigint[], ${intents.map((i) => iso(i.at))}::timestamptz[])
            AS x(ord, recipient_id, kind, post_id, comment_id, actor_id, at)
        ), made AS (
          INSERT INTO ${tx.table('notifications')} (id, recipient_id, kind, post_id, comment_id, first_at, last_at)
          SELECT id, recipient_id, kind, post_id, comment_id, at, at FROM x ORDER BY ord
          RETURNING id, version
        ), actors AS (
          INSERT INTO ${tx.table('notification_actors')} (notification_id, actor_id, acted_at)
          SELECT made.id, x.actor_id, x.at FROM x JOIN made ON made.id = x.id
        )
        SELECT x.ord, made.id, made.version FROM x JOIN made ON made.id = x.id`;
      const out: StoredNotification[] = [];
      for (const row of rows) {
        const intent = intents[row.ord] as Intent;
        out[row.ord] = {
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
      return out;
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
     * `lockLikeGroups` for many (recipient, post) pairs in one statement, in hash order (two batches lock
     * their common pairs in the same order), on the same keys as `lockLikeGroups`.
     */
    async lockManyLikeGroups(pairs: readonly { recipientId: string; postId: string }[]): Promise<void> {
      const keys = [...new Set(pairs.map((p) => `${schema}:${p.recipientId}:${p.postId}`))];
      if (keys.length === 0) return;
      await sql`
        SELECT pg_advisory_xact_lock(h) FROM (
          SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest(${keys}::text[]) AS k ORDER BY 1) AS locks`;
    },

    /**
     * What a batch of likes and unlikes needs to know (read after `lockManyLikeGroups`, in the same
     * pipeline): every unread like group of the pairs (oldest version first), which of the batch's actors
     * are in them, and the actors' unlike marks. Three statements, one round trip.
     */
    likeBatchState(changes: readonly { recipientId: string; postId: string; actorId: string }[]): Promise<{
      groups: StoredGroup[];
      members: StoredMember[];
      unlikes: UnlikeMark[];
    }> {
      const recipients = changes.map((c) => c.recipientId);
      const posts = changes.map((c) => c.postId);
      const actors = changes.map((c) => c.actorId);
      type GroupRow = {
        id: string;
        recipient_id: string;
        post_id: string;
        first_at: Date;
        last_at: Date;
        actor_count: number;
      };
      const groups = sql<GroupRow[]>`
        SELECT n.id, n.recipient_id, n.post_id, n.first_at, n.last_at, n.actor_count
        FROM ${tx.table('notifications')} n
        JOIN (SELECT DISTINCT r, p FROM unnest(${recipients}::bigint[], ${posts}::bigint[]) AS x(r, p)) x
          ON n.recipient_id = x.r AND n.post_id = x.p
        WHERE n.kind = 'like' AND n.read_at IS NULL
        ORDER BY n.version`;
      const members = sql<{ notification_id: string; actor_id: string; acted_at: Date }[]>`
        SELECT DISTINCT a.notification_id, a.actor_id, a.acted_at
        FROM unnest(${recipients}::bigint[], ${posts}::bigint[], ${actors}::bigint[]) AS x(r, p, u)
        JOIN ${tx.table('notifications')} n
          ON n.recipient_id = x.r AND n.post_id = x.p AND n.kind = 'like' AND n.read_at IS NULL
        JOIN ${tx.table('notification_actors')} a ON a.notification_id = n.id AND a.actor_id = x.u`;
      const unlikes = sql<{ recipient_id: string; post_id: string; actor_id: string; unliked_at: Date }[]>`
        SELECT DISTINCT u.recipient_id, u.post_id, u.actor_id, u.unliked_at
        FROM unnest(${recipients}::bigint[], ${posts}::bigint[], ${actors}::bigint[]) AS x(r, p, a)
        JOIN ${tx.table('unlikes')} u ON u.recipient_id = x.r AND u.post_id = x.p AND u.actor_id = x.a`;
      return Promise.all([groups, members, unlikes]).then(([g, m, u]) => ({
        groups: g.map((r) => ({
          id: String(r.id),
          recipientId: String(r.recipient_id),
          postId: String(r.post_id),
          firstAt: r.first_at,
          lastAt: r.last_at,
          actorCount: r.actor_count,
        })),
        members: m.map((r) => ({
          groupId: String(r.notification_id),
          actorId: String(r.actor_id),
          actedAt: r.acted_at,
        })),
        unlikes: u.map((r) => ({
          recipientId: String(r.recipient_id),
          postId: String(r.post_id),
          actorId: String(r.actor_id),
          at: r.unliked_at,
        })),
      }));
    },

    /**
     * Writes a batch's plan (domain/like-batch.ts) as one pipeline of set-based statements, and returns
     * the groups an actor joined (new or grown: new versions, latest actors), to announce.
     */
    async applyLikeBatch(plan: LikeBatchPlan): Promise<StoredNotification[]> {
      const iso = (d: Date) => d.toISOString();
      const pending: Promise<unknown>[] = [];
      if (plan.unlikes.length > 0) {
        const u = plan.unlikes;
        pending.push(sql`
          INSERT INTO ${tx.table('unlikes')} (recipient_id, post_id, actor_id, unliked_at)
          SELECT * FROM unnest(${u.map((x) => x.recipientId)}::bigint[], ${u.map((x) => x.postId)}::bigint[],
            ${u.map((x) => x.actorId)}::bigint[], ${u.map((x) => iso(x.at))}::timestamptz[])
          ON CONFLICT (recipient_id, post_id, actor_id)
          DO UPDATE SET unliked_at = greatest(${tx.table('unlikes')}.unliked_at, excluded.unliked_at)`);
      }
      if (plan.removedActors.length > 0) {
        const r = plan.removedActors;
        pending.push(sql`
          DELETE FROM ${tx.table('notification_actors')} a
          USING unnest(${r.map((x) => x.groupId)}::bigint[], ${r.map((x) => x.actorId)}::bigint[]) AS x(g, u)
          WHERE a.notification_id = x.g AND a.actor_id = x.u`);
      }
      if (plan.addedActors.length > 0) {
        const a = plan.addedActors;
        pending.push(sql`
          INSERT INTO ${tx.table('notification_actors')} (notification_id, actor_id, acted_at)
          SELECT * FROM unnest(${a.map((x) => x.groupId)}::bigint[], ${a.map((x) => x.actorId)}::bigint[],
            ${a.map((x) => iso(x.actedAt))}::timestamptz[])
          ON CONFLICT (notification_id, actor_id) DO UPDATE SET acted_at = excluded.acted_at`);
      }
      if (plan.updatedGroups.length > 0) {
        // id order: two batches updating the same items take their row locks in the same order
        const g = [...plan.updatedGroups].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
        pending.push(sql`
          UPDATE ${tx.table('notifications')} n
          SET actor_count = x.c, last_at = x.l,
            version = CASE WHEN x.a = 1 THEN ${sql(schema)}.next_id() ELSE n.version END
          FROM unnest(${g.map((x) => x.id)}::bigint[], ${g.map((x) => x.actorCount)}::int[],
            ${g.map((x) => iso(x.lastAt))}::timestamptz[], ${g.map((x) => (x.announce ? 1 : 0))}::int[])
            AS x(id, c, l, a)
          WHERE n.id = x.id`);
      }
      if (plan.deletedGroups.length > 0) {
        pending.push(sql`
          DELETE FROM ${tx.table('notifications')} WHERE id = ANY(${plan.deletedGroups}::bigint[])`);
      }
      let created: Promise<{ id: string }[]> | undefined;
      const fresh = plan.newGroups;
      if (fresh.length > 0) {
        const actors = fresh.flatMap((g, ord) => g.actors.map((a) => ({ ord, ...a })));
        // Ids minted first (a CTE calling next_id() is evaluated once), so each actor finds its group by ord.
        created = sql<{ id: string }[]>`
          WITH g AS (
            SELECT ${sql(schema)}.next_id() AS id, x.* FROM unnest(${fresh.map((_, i) => i)}::int[],
              ${fresh.map((x) => x.recipientId)}::bigint[], ${fresh.map((x) => x.postId)}::bigint[],
              ${fresh.map((x) => iso(x.firstAt))}::timestamptz[], ${fresh.map((x) => iso(x.lastAt))}::timestamptz[],
              ${fresh.map((x) => x.actors.length)}::int[])
              AS x(ord, recipient_id, post_id, first_at, last_at, actor_count)
          ), made AS (
            INSERT INTO ${tx.table('notifications')} (id, recipient_id, kind, post_id, first_at, last_at, actor_count)
            SELECT id, recipient_id, 'like', post_id, first_at, last_at, actor_count FROM g ORDER BY ord
            RETURNING id
          ), actors AS (
            INSERT INTO ${tx.table('notification_actors')} (notification_id, actor_id, acted_at)
            SELECT made.id, a.u, a.t
            FROM unnest(${actors.map((a) => a.ord)}::int[], ${actors.map((a) => a.actorId)}::bigint[],
              ${actors.map((a) => iso(a.actedAt))}::timestamptz[]) AS a(ord, u, t)
            JOIN g ON g.ord = a.ord JOIN made ON made.id = g.id
          )
          SELECT id FROM made`;
      }
      const grown = plan.updatedGroups.filter((g) => g.announce).map((g) => g.id);
      // Read after the writes (a pipeline runs in order): the grown items by id, the new ones as the unread
      // like groups of their pairs (their ids come back with this same round trip).
      const items =
        grown.length > 0 || fresh.length > 0
          ? sql<Row[]>`
              ${selectItems(tx)}
              WHERE n.id = ANY(${grown}::bigint[])
                OR (n.kind = 'like' AND n.read_at IS NULL AND (n.recipient_id, n.post_id) IN (
                  SELECT * FROM unnest(${fresh.map((g) => g.recipientId)}::bigint[],
                    ${fresh.map((g) => g.postId)}::bigint[])))`
          : undefined;
      // Statements are sent when awaited, in this order: the writes, then the read.
      await Promise.all([...pending, created, items]);
      const announced = new Set(grown);
      for (const m of (await created) ?? []) announced.add(String(m.id));
      return ((await items) ?? []).map(toStored).filter((item) => announced.has(item.id));
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
    /** Many items by (recipient, id), one query per recipient shard; the ones gone are left out. */
    async notificationsByIds(
      keys: readonly { recipientId: string; notificationId: string }[],
    ): Promise<StoredNotification[]> {
      const out: StoredNotification[] = [];
      for (const { shard: s, items } of groupByShard(shards, keys, (k) => k.recipientId).groups) {
        const rows = await s.sql<Row[]>`
          ${selectItems(s)}
          JOIN unnest(${items.map((k) => k.recipientId)}::bigint[], ${items.map((k) => k.notificationId)}::bigint[])
            AS k(recipient_id, id) ON n.recipient_id = k.recipient_id AND n.id = k.id`;
        out.push(...rows.map(toStored));
      }
      return out;
    },
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

    /**
     * Runs `work` once per logical shard holding recipients of `items` with that shard's items, the shards
     * of one database in one transaction (a batch reaches most shards: one commit per database, not per
     * shard); returns the items whose recipient id names no shard of the map.
     */
    async perRecipientShard<T>(
      consumer: string,
      items: readonly T[],
      recipientOf: (item: T) => string,
      work: (tx: NotificationTx, items: T[]) => Promise<void>,
    ): Promise<T[]> {
      const { groups, outside } = groupByShard(shards, items, recipientOf);
      await inTransactionPerDatabase(groups, (tx, mine) => work(writes(tx, consumer), mine));
      return outside;
    },

    /** Runs `work` once on every shard, each in its own transaction; results in shard order. */
    inEveryShard: <T>(consumer: string, work: (tx: NotificationTx) => Promise<T>) =>
      shards.fanOut((shard) => inTransaction(shard, (tx) => work(writes(tx, consumer)))),
  };
}

export type NotificationStore = ReturnType<typeof notificationStore>;
