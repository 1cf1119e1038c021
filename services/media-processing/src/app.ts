import { createPublisher } from '@instantpost/bus';
import {
  type BuiltService,
  createServiceApp,
  type ServiceContext,
  startEventWork,
} from '@instantpost/chassis';
import type { ConfigOf } from '@instantpost/config';
import { histogram } from '@instantpost/http';
import { createS3Client } from '@instantpost/storage';
import type { configSpec } from './config.ts';
import { configureSharp } from './domain/image.ts';
import type { ProcessDeps } from './domain/process.ts';
import { RenderThread } from './domain/render-thread.ts';
import { mediaUploadedConsumer } from './handlers/media-uploaded.ts';
import { postDeletedConsumer } from './handlers/post-deleted.ts';
import { manifestStore } from './store/manifest.ts';
import { mediaObjects } from './store/objects.ts';

export type Context = ServiceContext<ConfigOf<typeof configSpec>>;

/** The processing dependencies from the service's clients (also used by the operator command). */
export function processDeps(ctx: Context): ProcessDeps & { close(): void } {
  const { config, infra, logger } = ctx;
  const s3 = createS3Client(config);
  const publisher = createPublisher({ nc: infra.nc, prefix: config.natsPrefix });
  const renderer = new RenderThread();
  return {
    objects: mediaObjects(s3, config.s3Bucket),
    manifest: manifestStore(infra.shards),
    publish: (event) => publisher.publish(event),
    render: (input, options) => renderer.render(input, options),
    limits: { maxPixels: config.mediaMaxPixels, maxBytes: config.mediaMaxBytes },
    logger,
    close: () => {
      s3.destroy();
      void renderer.close();
    },
  };
}

/** Builds media-processing's HTTP app (health and metrics only) and its `media.uploaded` and `post.deleted` consumers. */
export async function buildApp(ctx: Context): Promise<BuiltService> {
  const { config, logger } = ctx;
  configureSharp();
  // Sharp queues its work on libuv's pool (UV_THREADPOOL_SIZE, default 4), shared with DNS and fs.
  if (config.mediaConcurrency >= config.uvThreadpoolSize) {
    logger.warn(
      { mediaConcurrency: config.mediaConcurrency, uvThreadpoolSize: config.uvThreadpoolSize },
      'MEDIA_CONCURRENCY should stay below UV_THREADPOOL_SIZE: raise UV_THREADPOOL_SIZE',
    );
  }
  const app = await createServiceApp('media-processing', ctx);
  const processing = histogram(app, {
    name: 'instantpost_media_processing_seconds',
    help: 'Time to process one photo: read, check, renditions written, result published',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
  });
  const deps = processDeps(ctx);
  const work = await startEventWork(ctx, {
    consumers: [
      mediaUploadedConsumer(deps, {
        concurrency: config.mediaConcurrency,
        maxDeliver: config.mediaMaxDeliver,
        retryInitialMs: config.mediaRetryInitialMs,
        ackWaitMs: config.mediaAckWaitMs,
        handlerTimeoutMs: config.mediaHandlerTimeoutMs,
        observeSeconds: (seconds) => processing.observe(seconds),
      }),
      postDeletedConsumer(deps),
    ],
  });
  return {
    app,
    stop: async () => {
      await work.stop();
      deps.close();
    },
  };
}
