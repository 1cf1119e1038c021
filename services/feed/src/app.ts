import {
  type BuiltService,
  createServiceApp,
  type ServiceContext,
  startEventWork,
} from '@instantpost/chassis';
import type { ConfigOf } from '@instantpost/config';
import type { configSpec } from './config.ts';
import { createFeedDomain } from './domain/service.ts';
import { fanoutConsumer, projectorConsumer } from './handlers/consumers.ts';
import { feedRoutes } from './routes/feed.ts';

export type Context = ServiceContext<ConfigOf<typeof configSpec>>;

/** Builds feed's HTTP app and background work from its clients; tests build the same app. */
export async function buildApp(ctx: Context): Promise<BuiltService> {
  const { config, infra, logger } = ctx;
  const app = await createServiceApp('feed', ctx);
  const domain = createFeedDomain({
    shards: infra.shards,
    redis: infra.redis,
    redisPrefix: config.redisPrefix,
    settings: config,
  });
  feedRoutes(app, domain.reader);

  const concurrency = Math.min(config.consumerConcurrency, config.pgPoolMax);
  const options = { concurrency, ackWaitMs: config.ackWaitMs, logger };
  const work = await startEventWork(ctx, {
    consumers: [fanoutConsumer(domain.projector, options), projectorConsumer(domain.projector, options)],
  });
  return { app, stop: work.stop };
}
