import { type ConsumerDefinition, defineConsumer, NonRetryableError } from '@instantpost/bus';
import { ShardError } from '@instantpost/shards';
import type { Logger } from '@instantpost/telemetry';
import type { ManifestStore } from '../store/manifest.ts';
import type { MediaObjects } from '../store/objects.ts';

/** The durable's name; every replica binds to it. */
export const DELETIONS_CONSUMER = 'media-processing-deletions';

export interface DeletionDeps {
  readonly objects: Pick<MediaObjects, 'deleteRenditions'>;
  readonly manifest: Pick<ManifestStore, 'recordDeleted'>;
  readonly logger: Logger;
}

/**
 * Consumes `post.deleted` (a post's id is its media id): marks the media deleted, so a redelivered
 * `media.uploaded` or the operator's reprocess never renders it again, then deletes `media/<id>/*` from S3.
 * Idempotent: a duplicate finds nothing left to delete. The mark comes first, so a render racing the
 * deletion either sees it or wrote its objects before the listing that removes them.
 */
export function postDeletedConsumer(deps: DeletionDeps): ConsumerDefinition<'post.deleted'> {
  return defineConsumer({
    name: DELETIONS_CONSUMER,
    description: 'media-processing: post.deleted → its renditions removed from S3',
    subjects: ['post.deleted'],
    settings: { concurrency: 4, retryBackoff: { initialMs: 1000, maxMs: 60_000 } },
    handlers: {
      'post.deleted': async (event) => {
        const mediaId = event.data.postId;
        let known: boolean;
        try {
          known = await deps.manifest.recordDeleted(mediaId);
        } catch (err) {
          if (err instanceof ShardError) throw new NonRetryableError(err.message, { cause: err });
          throw err;
        }
        const removed = await deps.objects.deleteRenditions(mediaId);
        deps.logger.info({ mediaId, removed, known }, 'renditions of a deleted post removed');
      },
    },
  });
}
