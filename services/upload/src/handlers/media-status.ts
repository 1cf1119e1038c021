import {
  type ConsumerSettings,
  defineConsumer,
  type HandlerContext,
  NonRetryableError,
} from '@instantpost/bus';
import type { CloudEvent } from '@instantpost/events';
import { ShardError, ShardErrorCodes } from '@instantpost/shards';
import type { Logger } from '@instantpost/telemetry';
import type { OriginalStore } from '../domain/receive.ts';
import { originalKey } from '../store/originals.ts';
import type { StatusChange, StatusUpdate, UploadStore } from '../store/uploads.ts';

/** The durable consumer that keeps `GET /v1/media/:id/status` current. */
export const MEDIA_STATUS_CONSUMER = 'upload-media-status';

export interface MediaStatusDeps {
  readonly uploads: Pick<UploadStore, 'applyStatus'>;
  /** A deleted post's original is removed too: nothing of a deleted photo stays behind. */
  readonly originals: Pick<OriginalStore, 'delete'>;
  readonly logger: Logger;
  readonly settings?: ConsumerSettings;
}

/** Applies the change; a media id whose shard is not in the map can never be handled, so it is dead-lettered. */
async function applyStatus(
  deps: MediaStatusDeps,
  consumer: string,
  eventId: string,
  change: StatusUpdate,
): Promise<StatusChange> {
  try {
    return await deps.uploads.applyStatus(consumer, eventId, change);
  } catch (err) {
    if (err instanceof ShardError && err.code === ShardErrorCodes.UnknownShard)
      throw new NonRetryableError(err.message, { cause: err });
    throw err;
  }
}

function warnIfUnknown(logger: Logger, change: StatusChange, event: CloudEvent, mediaId: string): void {
  // An event about media this service never stored (another environment, a hand-made event) is acked and
  // logged: retrying cannot make the row appear, since the row commits before media.uploaded is sent.
  if (change === 'unknown-media')
    logger.warn({ eventId: event.id, type: event.type, mediaId }, 'event for unknown media ignored');
}

/**
 * `media.rejected` → rejected with its reason; `post.published` → published (post id = media id);
 * `post.deleted` → deleted and the original removed from S3. A rejection or a deletion releases the dedupe
 * record, so the owner can upload the same bytes again as a new media. Each event changes the row at most
 * once (inbox), whatever the redeliveries; malformed events never reach these handlers (the runner
 * dead-letters them).
 */
export function mediaStatusConsumer(deps: MediaStatusDeps) {
  return defineConsumer({
    name: MEDIA_STATUS_CONSUMER,
    description: "upload: keeps each upload's status current",
    subjects: ['media.rejected', 'post.published', 'post.deleted'],
    ...(deps.settings ? { settings: deps.settings } : {}),
    handlers: {
      'media.rejected': async (event, ctx: HandlerContext<'media.rejected'>) => {
        const { mediaId, ownerId, reason } = event.data;
        const change = await applyStatus(deps, ctx.consumer, event.id, {
          mediaId,
          ownerId,
          to: 'rejected',
          reason,
        });
        warnIfUnknown(deps.logger, change, event, mediaId);
      },
      'post.published': async (event, ctx: HandlerContext<'post.published'>) => {
        const { mediaId, authorId, postId } = event.data;
        const change = await applyStatus(deps, ctx.consumer, event.id, {
          mediaId,
          ownerId: authorId,
          to: 'published',
          postId,
        });
        warnIfUnknown(deps.logger, change, event, mediaId);
      },
      'post.deleted': async (event, ctx: HandlerContext<'post.deleted'>) => {
        const { postId: mediaId, authorId } = event.data;
        const change = await applyStatus(deps, ctx.consumer, event.id, {
          mediaId,
          ownerId: authorId,
          to: 'deleted',
        });
        warnIfUnknown(deps.logger, change, event, mediaId);
        // Also on a redelivery of a handled event: the S3 call may be what failed the first time.
        if (change !== 'unknown-media') await deps.originals.delete(originalKey(mediaId));
      },
    },
  });
}
