import { enqueue, withInbox } from '@instantpost/bus';
import type { AnyCloudEvent } from '@instantpost/events';
import { groupByShard, inTransaction, onShard, type Shards } from '@instantpost/shards';
import type { MediaStatus, VisibleStatus } from '../domain/status.ts';
import { releasesDedupe, statesThatMayBecome } from '../domain/status.ts';

/** An upload to record (the id was reserved on the owner's shard with `nextMediaId`). */
export interface NewUpload {
  id: string;
  ownerId: string;
  sha256: string;
  bytes: number;
  contentType: string;
  objectKey: string;
  caption: string | undefined;
  altText: string | undefined;
}

export interface UploadStatusRow {
  id: string;
  status: VisibleStatus;
  reason: string | null;
}

/** What recording an upload did: a new row, or the owner's existing upload of the same bytes. */
export type RecordResult = { created: true } | { created: false; existing: UploadStatusRow };

/** Outcome of applying a status event. */
export type StatusChange = 'changed' | 'duplicate' | 'unknown-media' | 'unchanged';

/** A status event's change of one upload. */
export interface StatusUpdate {
  mediaId: string;
  ownerId: string;
  to: Exclude<MediaStatus, 'processing'>;
  reason?: string;
  postId?: string;
}

/** Uploads, each on its owner's shard (a media id is minted there, so `shardOf(mediaId)` finds it). */
export function uploadStore(shards: Shards) {
  return {
    /** A media id from the owner's shard, so `shardOf(mediaId)` is the owner's shard. */
    async nextMediaId(ownerId: string): Promise<string> {
      const [row] = await onShard(
        shards.forId(ownerId),
        (s) => s.sql<{ id: string }[]>`SELECT ${s.sql(s.schema)}.next_id() AS id`,
      );
      if (!row) throw new Error('next_id() returned no row');
      return row.id;
    },

    /**
     * Inserts the upload and enqueues `event` in one transaction — unless the owner already has a live
     * upload of the same bytes (not rejected, its post not deleted), in which case nothing is written and
     * that upload is returned.
     */
    async recordUpload(upload: NewUpload, event: AnyCloudEvent): Promise<RecordResult> {
      const shard = shards.forId(upload.id);
      // The live upload that made this one conflict may be released before it is read: then insert again.
      for (let attempt = 0; ; attempt++) {
        const result = await inTransaction(shard, async (tx) => {
          const inserted = await tx.sql`
            INSERT INTO ${tx.table('uploads')}
              (id, owner_id, sha256, bytes, content_type, object_key, caption, alt_text)
            VALUES (${upload.id}, ${upload.ownerId}, ${upload.sha256}, ${upload.bytes}, ${upload.contentType},
                    ${upload.objectKey}, ${upload.caption ?? null}, ${upload.altText ?? null})
            ON CONFLICT (owner_id, sha256) WHERE released_at IS NULL DO NOTHING
            RETURNING id`;
          if (inserted.length === 1) {
            await enqueue(tx.sql, tx.schema, event);
            return { created: true } as const;
          }
          const [existing] = await tx.sql<UploadStatusRow[]>`
            SELECT id, status, reason FROM ${tx.table('uploads')}
            WHERE owner_id = ${upload.ownerId} AND sha256 = ${upload.sha256} AND released_at IS NULL`;
          return existing ? ({ created: false, existing } as const) : undefined;
        });
        if (result) return result;
        if (attempt === 2) throw new Error('upload conflict without a live upload of the same bytes');
      }
    },

    /**
     * The upload's status when `ownerId` owns it and its post was not deleted; `undefined` otherwise (also
     * for someone else's media). Throws `ShardError` for an id of a shard outside the map.
     */
    async statusForOwner(id: string, ownerId: string): Promise<UploadStatusRow | undefined> {
      const shard = shards.forId(id);
      const [row] = await shard.sql<UploadStatusRow[]>`
        SELECT id, status, reason FROM ${shard.table('uploads')}
        WHERE id = ${id} AND owner_id = ${ownerId} AND status <> 'deleted'`;
      return row;
    },

    /**
     * Moves the upload to `change.to` once per (consumer, event) — from the states the domain allows — in
     * one transaction with the consumer's inbox row. A rejection or a deletion releases the dedupe record
     * for good. Throws `ShardError` for a media id of a shard outside the map.
     */
    async applyStatus(consumer: string, eventId: string, change: StatusUpdate): Promise<StatusChange> {
      return inTransaction(shards.forId(change.mediaId), async (tx): Promise<StatusChange> => {
        if (!(await withInbox(tx.sql, tx.schema, consumer, eventId))) return 'duplicate';
        const from = statesThatMayBecome(change.to);
        const updated = await tx.sql`
          UPDATE ${tx.table('uploads')}
          SET status = ${change.to},
              reason = ${change.reason ?? null},
              post_id = coalesce(${change.postId ?? null}::bigint, post_id),
              released_at = CASE WHEN ${releasesDedupe(change.to)}::boolean THEN coalesce(released_at, now()) ELSE released_at END,
              updated_at = now()
          WHERE id = ${change.mediaId} AND owner_id = ${change.ownerId} AND status = ANY(${from as string[]})
          RETURNING id`;
        if (updated.length === 1) return 'changed';
        const [exists] = await tx.sql`
          SELECT 1 FROM ${tx.table('uploads')} WHERE id = ${change.mediaId} AND owner_id = ${change.ownerId}`;
        return exists ? 'unchanged' : 'unknown-media';
      });
    },

    /**
     * The ids among `ids` that have an upload row, one query per shard. An id of a shard this map does not
     * hold cannot be checked and counts as existing (so nothing is deleted on a guess).
     */
    async existingUploadIds(ids: readonly string[]): Promise<Set<string>> {
      const { groups, outside } = groupByShard(shards, ids);
      const found = new Set<string>(outside);
      for (const { shard, items } of groups) {
        const rows = await shard.sql<{ id: string }[]>`
          SELECT id FROM ${shard.table('uploads')} WHERE id = ANY(${items}::bigint[])`;
        for (const row of rows) found.add(row.id);
      }
      return found;
    },
  };
}

export type UploadStore = ReturnType<typeof uploadStore>;
