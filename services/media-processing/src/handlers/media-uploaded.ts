import { performance } from 'node:perf_hooks';
import { type ConsumerDefinition, defineConsumer, NonRetryableError } from '@instantpost/bus';
import { ShardError } from '@instantpost/shards';
import { type ProcessDeps, processMedia } from '../domain/process.ts';

export interface MediaConsumerSettings {
  /** Images in flight in this replica (one libvips thread each). */
  readonly concurrency: number;
  readonly maxDeliver: number;
  readonly retryInitialMs: number;
  /** Redelivery after a replica died mid-image; a running handler heartbeats every third of it. */
  readonly ackWaitMs: number;
  /** The deadline of one image: a hung S3 or decode frees the slot, and the event is retried. */
  readonly handlerTimeoutMs: number;
  /** Seconds to process one photo (renditions or rejection), for `instantpost_media_processing_seconds`. */
  readonly observeSeconds?: (seconds: number) => void;
}

/** The durable's name: every replica binds to it, so the replicas share the work (each event goes to one). */
export const MEDIA_CONSUMER = 'media-processing';

/**
 * Consumes `media.uploaded`: renditions + `media.processed`, or `media.rejected` for an unsafe image.
 * A rejection is final: after publishing `media.rejected` the handler throws `NonRetryableError`, so the
 * bus terminates the delivery at once (no retry) and keeps a dead letter with the reason for operators.
 * S3, Postgres and NATS failures throw plain errors: retried with backoff up to `maxDeliver` deliveries.
 */
export function mediaUploadedConsumer(
  deps: ProcessDeps,
  settings: MediaConsumerSettings,
): ConsumerDefinition<'media.uploaded'> {
  return defineConsumer({
    name: MEDIA_CONSUMER,
    description: 'media-processing: media.uploaded → renditions, media.processed | media.rejected',
    subjects: ['media.uploaded'],
    settings: {
      concurrency: settings.concurrency,
      ackWaitMs: settings.ackWaitMs,
      handlerTimeoutMs: settings.handlerTimeoutMs,
      maxDeliver: settings.maxDeliver,
      // The pull batch is `concurrency`, so a replica never holds more events than it can start soon;
      // max_ack_pending stays at the bus default (1000, across every replica) so adding replicas scales.
      retryBackoff: { initialMs: settings.retryInitialMs, maxMs: 60_000 },
    },
    handlers: {
      'media.uploaded': async (event, ctx) => {
        let outcome: Awaited<ReturnType<typeof processMedia>>;
        const started = performance.now();
        try {
          outcome = await processMedia(deps, event.data, {
            finalAttempt: ctx.deliveries >= settings.maxDeliver,
            onProgress: () => ctx.heartbeat(),
          });
        } catch (err) {
          // A media id whose shard no database holds can never be processed.
          if (err instanceof ShardError) throw new NonRetryableError(err.message, { cause: err });
          throw err;
        }
        settings.observeSeconds?.((performance.now() - started) / 1000);
        if (outcome.status === 'rejected') {
          throw new NonRetryableError(`media ${event.data.mediaId} rejected: ${outcome.reason}`);
        }
      },
    },
  });
}
