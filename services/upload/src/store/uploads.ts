import { enqueue, handleOnce } from '@instantpost/bus';
import type { AnyCloudEvent } from '@instantpost/events';
import { ShardError, type ShardSql, type Shards } from '@instantpost/shards';
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

/** A media id from the owner's shard, so `shardOf(mediaId)` is the owner's shard. */
export async function nextMediaId(shard: ShardSql): Promise<string> {
  const [row] = await shard.sql<{ id: string }[]>`SELECT ${shard.sql(shard.schema)}.next_id() AS id`;
  if (!row) throw new Error('next_id() returned no row');
  return row.id;
}

/**
 * Inserts the upload and enqueues `event` in one transaction — unless the owner already has a live upload
 * of the same bytes (not rejected, its post not deleted), in which case nothing is written and that upload
 * is returned.
 */
export async function recordUpload(
  shard: ShardSql,
  upload: NewUpload,
  event: AnyCloudEvent,
): Promise<RecordResult> {
  // The live upload that made this one conflict may be released before it is read: then insert again.
  for (let attempt = 0; ; attempt++) {
    const result = await shard.sql.begin(async (tx) => {
      const inserted = await tx`
        INSERT INTO ${shard.table('uploads')}
          (id, owner_id, sha256, bytes, content_type, object_key, caption, alt_text)
        VALUES (${upload.id}, ${upload.ownerId}, ${upload.sha256}, ${upload.bytes}, ${upload.contentType},
                ${upload.objectKey}, ${upload.caption ?? null}, ${upload.altText ?? null})
        ON CONFLICT (owner_id, sha256) WHERE released_at IS NULL DO NOTHING
        RETURNING id`;
      if (inserted.length === 1) {
        await enqueue(tx, shard.schema, event);
        return { created: true } as const;
      }
      const [existing] = await tx<UploadStatusRow[]>`
        SELECT id, status, reason FROM ${shard.table('uploads')}
        WHERE owner_id = ${upload.ownerId} AND sha256 = ${upload.sha256} AND released_at IS NULL`;
      return existing ? ({ created: false, existing } as const) : undefined;
    });
    if (result) return result;
    if (attempt === 2) throw new Error('upload conflict without a live upload of the same bytes');
  }
}

/**
 * The upload's status when `ownerId` owns it and its post was not deleted; `undefined` otherwise (also for
 * someone else's media).
 */
export async function statusForOwner(
  shard: ShardSql,
  id: string,
  ownerId: string,
): Promise<UploadStatusRow | undefined> {
  const [row] = await shard.sql<UploadStatusRow[]>`
    SELECT id, status, reason FROM ${shard.table('uploads')}
    WHERE id = ${id} AND owner_id = ${ownerId} AND status <> 'deleted'`;
  return row;
}

/**
 * Moves the upload to `to` once per (consumer, event) — from the states the domain allows — in one
 * transaction with the consumer's inbox row. A rejection or a deletion releases the dedupe record for good.
 */
export async function applyStatus(
  shard: ShardSql,
  consumer: string,
  eventId: string,
  change: {
    mediaId: string;
    ownerId: string;
    to: Exclude<MediaStatus, 'processing'>;
    reason?: string;
    postId?: string;
  },
): Promise<StatusChange> {
  let result: StatusChange = 'duplicate';
  await handleOnce(shard, consumer, eventId, async (tx) => {
    const from = statesThatMayBecome(change.to);
    const updated = await tx`
      UPDATE ${shard.table('uploads')}
      SET status = ${change.to},
          reason = ${change.reason ?? null},
          post_id = coalesce(${change.postId ?? null}::bigint, post_id),
          released_at = CASE WHEN ${releasesDedupe(change.to)}::boolean THEN coalesce(released_at, now()) ELSE released_at END,
          updated_at = now()
      WHERE id = ${change.mediaId} AND owner_id = ${change.ownerId} AND status = ANY(${from as string[]})
      RETURNING id`;
    if (updated.length === 1) {
      result = 'changed';
      return;
    }
    const [exists] = await tx`
      SELECT 1 FROM ${shard.table('uploads')} WHERE id = ${change.mediaId} AND owner_id = ${change.ownerId}`;
    result = exists ? 'unchanged' : 'unknown-media';
  });
  return result;
}

/**
 * The ids among `ids` that have an upload row, looked up on each id's own shard. An id of a shard this map
 * does not hold cannot be checked and counts as existing (so nothing is deleted on a guess).
 */
export async function existingUploadIds(shards: Shards, ids: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  const byShard = new Map<ShardSql, string[]>();
  for (const id of ids) {
    try {
      const shard = shards.forId(id);
      byShard.set(shard, [...(byShard.get(shard) ?? []), id]);
    } catch (err) {
      if (!(err instanceof ShardError)) throw err;
      found.add(id);
    }
  }
  for (const [shard, list] of byShard) {
    const rows = await shard.sql<{ id: string }[]>`
      SELECT id FROM ${shard.table('uploads')} WHERE id = ANY(${list}::bigint[])`;
    for (const row of rows) found.add(row.id);
  }
  return found;
}
