import type { EventData } from '@instantpost/events';
import { onShard, type Shards } from '@instantpost/shards';

export type MediaSource = EventData<'media.uploaded'>;
export type ProcessedData = EventData<'media.processed'>;
export type MediaStatus = 'processing' | 'processed' | 'rejected';

/** What this service knows about one media. */
export interface MediaRecord {
  readonly mediaId: string;
  readonly source: MediaSource;
  readonly status: MediaStatus;
  readonly pipelineVersion: number | null;
  readonly result: ProcessedData | null;
  readonly reason: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
  /** The post made from it was deleted: its renditions are gone and are never made again. */
  readonly deletedAt: Date | null;
}

interface Row {
  media_id: string;
  source: MediaSource;
  status: MediaStatus;
  pipeline_version: number | null;
  result: ProcessedData | null;
  reason: string | null;
  attempts: number;
  last_error: string | null;
  deleted_at: Date | null;
}

const toRecord = (row: Row): MediaRecord => ({
  mediaId: row.media_id,
  source: row.source,
  status: row.status,
  pipelineVersion: row.pipeline_version,
  result: row.result,
  reason: row.reason,
  attempts: row.attempts,
  lastError: row.last_error,
  deletedAt: row.deleted_at,
});

/** The processing manifest in Postgres, on the shard of each media id. */
export function manifestStore(shards: Shards) {
  return {
    /** Records one more attempt (creating the record on the first) and returns the record as it now is. */
    async recordAttempt(source: MediaSource): Promise<MediaRecord> {
      return onShard(shards.forId(source.mediaId), async (s) => {
        // A different original under the same id (sha256 changed) starts over; the same one keeps its outcome.
        const [row] = await s.sql<Row[]>`
          INSERT INTO ${s.table('media')} (media_id, owner_id, source, sha256, attempts)
          VALUES (${source.mediaId}, ${source.ownerId}, ${s.sql.json(source as never)}, ${source.sha256}, 1)
          ON CONFLICT (media_id) DO UPDATE SET
            attempts = ${s.table('media')}.attempts + 1,
            source = EXCLUDED.source,
            owner_id = EXCLUDED.owner_id,
            status = CASE WHEN ${s.table('media')}.sha256 = EXCLUDED.sha256 THEN ${s.table('media')}.status ELSE 'processing' END,
            result = CASE WHEN ${s.table('media')}.sha256 = EXCLUDED.sha256 THEN ${s.table('media')}.result END,
            reason = CASE WHEN ${s.table('media')}.sha256 = EXCLUDED.sha256 THEN ${s.table('media')}.reason END,
            sha256 = EXCLUDED.sha256,
            updated_at = now()
          RETURNING media_id, source, status, pipeline_version, result, reason, attempts, last_error, deleted_at`;
        return toRecord(row as Row);
      });
    },

    async recordProcessed(mediaId: string, pipelineVersion: number, result: ProcessedData): Promise<void> {
      return onShard(shards.forId(mediaId), async (s) => {
        await s.sql`
          UPDATE ${s.table('media')}
          SET status = 'processed', pipeline_version = ${pipelineVersion}, result = ${s.sql.json(result as never)},
              reason = NULL, last_error = NULL, updated_at = now()
          WHERE media_id = ${mediaId}`;
      });
    },

    async recordRejected(mediaId: string, pipelineVersion: number, reason: string): Promise<void> {
      return onShard(shards.forId(mediaId), async (s) => {
        await s.sql`
          UPDATE ${s.table('media')}
          SET status = 'rejected', pipeline_version = ${pipelineVersion}, result = NULL, reason = ${reason},
              updated_at = now()
          WHERE media_id = ${mediaId}`;
      });
    },

    /** Keeps the last transient error for operators; the status stays `processing`. */
    async recordFailure(mediaId: string, error: string): Promise<void> {
      return onShard(shards.forId(mediaId), async (s) => {
        await s.sql`
          UPDATE ${s.table('media')} SET last_error = ${error.slice(0, 1000)}, updated_at = now()
          WHERE media_id = ${mediaId}`;
      });
    },

    /** Marks the media deleted (idempotent: the first time is kept); false when there is no record of it. */
    async recordDeleted(mediaId: string): Promise<boolean> {
      return onShard(shards.forId(mediaId), async (s) => {
        const rows = await s.sql`
          UPDATE ${s.table('media')} SET deleted_at = coalesce(deleted_at, now()), updated_at = now()
          WHERE media_id = ${mediaId}
          RETURNING media_id`;
        return rows.length === 1;
      });
    },

    async find(mediaId: string): Promise<MediaRecord | undefined> {
      const s = shards.forId(mediaId);
      const [row] = await s.sql<Row[]>`
        SELECT media_id, source, status, pipeline_version, result, reason, attempts, last_error, deleted_at
        FROM ${s.table('media')} WHERE media_id = ${mediaId}`;
      return row ? toRecord(row) : undefined;
    },
  };
}

export type ManifestStore = ReturnType<typeof manifestStore>;
