import multipart from '@fastify/multipart';
import {
  type BuiltService,
  createServiceApp,
  type ServiceContext,
  startEventWork,
} from '@instantpost/chassis';
import type { ConfigOf } from '@instantpost/config';
import { createS3Client } from '@instantpost/storage';
import type { configSpec } from './config.ts';
import { mediaStatusConsumer } from './handlers/media-status.ts';
import { countUploads } from './metrics.ts';
import { registerMediaRoutes } from './routes/media.ts';
import { originalStore } from './store/originals.ts';
import { uploadStore } from './store/uploads.ts';

export type Context = ServiceContext<ConfigOf<typeof configSpec>>;

/** Caption (≤ 2200 UTF-16 units) and alt text in UTF-8 fit well within this; more is refused as too long. */
const FIELD_BYTES = 16 * 1024;

/** Builds upload's HTTP app and background work from its clients; tests build the same app. */
export async function buildApp(ctx: Context): Promise<BuiltService> {
  const { config, infra, logger } = ctx;
  const app = await createServiceApp('upload', ctx);
  await app.register(multipart, {
    limits: {
      // One byte over the limit, so the stream shows that the photo is too large (413) instead of ending
      // quietly truncated at exactly the limit.
      fileSize: config.uploadMaxBytes + 1,
      files: 2,
      fields: 8,
      parts: 12,
      fieldSize: FIELD_BYTES,
      headerPairs: 50,
    },
  });
  const s3 = createS3Client(config);
  const originals = originalStore(s3, config.s3Bucket);
  const uploads = uploadStore(infra.shards);
  countUploads(app);
  registerMediaRoutes(app, {
    uploads,
    originals,
    bucket: config.s3Bucket,
    maxBytes: config.uploadMaxBytes,
    rateLimit: { max: config.uploadRateMax, windowMs: config.uploadRateWindowMs },
    logger,
  });

  const work = await startEventWork(ctx, {
    outbox: true,
    consumers: [
      mediaStatusConsumer({
        uploads,
        originals,
        logger,
        // every handler holds a connection for its transaction: no more in flight than the pool has
        settings: { concurrency: Math.min(8, config.pgPoolMax) },
      }),
    ],
  });
  return {
    app,
    stop: async () => {
      await work.stop();
      s3.destroy();
    },
  };
}
