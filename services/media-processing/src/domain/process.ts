import { createHash } from 'node:crypto';
import type { AnyCloudEvent } from '@instantpost/events';
import type { Logger } from '@instantpost/telemetry';
import type { ManifestStore, MediaSource, ProcessedData } from '../store/manifest.ts';
import type { MediaObjects } from '../store/objects.ts';
import { OriginalMissingError, UnsafeImageError } from './errors.ts';
import type { RenderedImage, RenderOptions } from './image.ts';
import { processedEvent, rejectedEvent } from './outcomes.ts';
import { PIPELINE_VERSION, renditionKey } from './renditions.ts';

/** What processing needs, built once by the app (or the operator command). */
export interface ProcessDeps {
  readonly objects: MediaObjects;
  readonly manifest: ManifestStore;
  /** Publishes an event and resolves on the JetStream ack (the bus publisher). */
  readonly publish: (event: AnyCloudEvent) => Promise<unknown>;
  /** The image work (`renderImage`; the service runs it on a thread of its own, domain/render-thread.ts). */
  readonly render: (input: Buffer, options: RenderOptions) => Promise<RenderedImage>;
  readonly limits: { readonly maxPixels: number; readonly maxBytes: number };
  readonly logger: Logger;
}

export interface ProcessOptions {
  /** The last delivery: a missing original is rejected now instead of retried. */
  readonly finalAttempt: boolean;
  /** Redo the image work even when this original was already handled by this pipeline version. */
  readonly force?: boolean;
  /** Called between steps (the consumer's heartbeat). */
  readonly onProgress?: () => void;
}

export type Outcome =
  | { readonly status: 'processed'; readonly data: ProcessedData; readonly reused: boolean }
  | { readonly status: 'rejected'; readonly reason: string; readonly reused: boolean }
  /** Its post was deleted: nothing is rendered or published (a deleted photo is never served again). */
  | { readonly status: 'deleted' };

/**
 * Turns one original into renditions on S3 and publishes `media.processed`, or publishes `media.rejected`
 * when the original is not a safe image. Safe to run any number of times for the same original: the keys,
 * the renditions and the event ids are the same each time, and an original already handled by this
 * pipeline version only has its outcome published again. Throws for transient failures (S3, Postgres,
 * NATS): the caller retries.
 */
export async function processMedia(
  deps: ProcessDeps,
  source: MediaSource,
  options: ProcessOptions,
): Promise<Outcome> {
  const { mediaId, ownerId, sha256 } = source;
  const record = await deps.manifest.recordAttempt(source);
  if (record.deletedAt !== null) return { status: 'deleted' };
  if (!options.force && record.pipelineVersion === PIPELINE_VERSION) {
    if (record.status === 'processed' && record.result) {
      await deps.publish(processedEvent(record.result, sha256));
      return { status: 'processed', data: record.result, reused: true };
    }
    if (record.status === 'rejected' && record.reason) {
      await deps.publish(rejectedEvent({ mediaId, ownerId, reason: record.reason }, sha256));
      return { status: 'rejected', reason: record.reason, reused: true };
    }
  }

  let data: ProcessedData;
  try {
    const original = await deps.objects.readOriginal(source.bucket, source.key, deps.limits.maxBytes);
    if (createHash('sha256').update(original).digest('hex') !== sha256) {
      // Overwritten or damaged since the upload: never render bytes the owner did not send.
      throw new UnsafeImageError(
        'The stored file is not the one that was uploaded. Please upload the photo again.',
      );
    }
    options.onProgress?.();
    const rendered = await deps.render(original, {
      maxPixels: deps.limits.maxPixels,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    const renditions = rendered.renditions.map((r) => ({
      name: r.name,
      width: r.width,
      height: r.height,
      format: r.format,
      key: renditionKey(mediaId, r.name, r.format),
      body: r.body,
    }));
    await Promise.all(renditions.map((r) => deps.objects.writeRendition(r.key, r.format, r.body)));
    data = {
      mediaId,
      ownerId,
      width: rendered.width,
      height: rendered.height,
      blurhash: rendered.blurhash,
      renditions: renditions.map(({ body: _body, ...rendition }) => rendition),
      ...(source.caption === undefined ? {} : { caption: source.caption }),
      ...(source.altText === undefined ? {} : { altText: source.altText }),
    };
  } catch (err) {
    const reason = rejectionReason(err, options.finalAttempt);
    if (reason === undefined) {
      await deps.manifest.recordFailure(mediaId, errorText(err)).catch((recordErr: unknown) => {
        deps.logger.warn({ err: recordErr, mediaId }, 'cannot record the failure');
      });
      throw err;
    }
    await deps.manifest.recordRejected(mediaId, PIPELINE_VERSION, reason);
    await deps.publish(rejectedEvent({ mediaId, ownerId, reason }, sha256));
    return { status: 'rejected', reason, reused: false };
  }
  await deps.manifest.recordProcessed(mediaId, PIPELINE_VERSION, data);
  await deps.publish(processedEvent(data, sha256));
  return { status: 'processed', data, reused: false };
}

/** The owner-facing reason when the failure is final, undefined when it is worth retrying. */
function rejectionReason(err: unknown, finalAttempt: boolean): string | undefined {
  if (err instanceof UnsafeImageError) return err.reason;
  if (err instanceof OriginalMissingError && finalAttempt) {
    return 'The uploaded file could not be found any more. Please upload the photo again.';
  }
  return undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
