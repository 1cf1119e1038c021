import {
  type BuiltService,
  createServiceApp,
  openRedisTracking,
  type ServiceContext,
  startEventWork,
} from '@instantpost/chassis';
import type { ConfigOf } from '@instantpost/config';
import { counter, histogram } from '@instantpost/http';
import type { configSpec } from './config.ts';
import { createFeedDomain } from './domain/service.ts';
import { fanoutConsumer, projectorConsumer } from './handlers/consumers.ts';
import { feedRoutes } from './routes/feed.ts';

export type Context = ServiceContext<ConfigOf<typeof configSpec>>;

/** Builds feed's HTTP app and background work from its clients; tests build the same app. */
export async function buildApp(ctx: Context): Promise<BuiltService> {
  const { config, infra, logger } = ctx;
  const app = await createServiceApp('feed', ctx);
  const tracker = config.redisClientTracking
    ? await openRedisTracking({ url: config.redisUrl, keyPrefix: config.redisPrefix, logger })
    : undefined;
  const domain = createFeedDomain({
    shards: infra.shards,
    redis: infra.redis,
    redisPrefix: config.redisPrefix,
    tracker,
    settings: config,
  });
  feedRoutes(app, domain.reader);

  const concurrency = Math.min(config.consumerConcurrency, config.pgPoolMax);
  const fanoutTimelines = counter(app, {
    name: 'instantpost_fanout_timelines_total',
    help: 'Home timelines a post was written into (post.published fan-out)',
  });
  const fanoutSeconds = histogram(app, {
    name: 'instantpost_fanout_seconds',
    help: 'Time to fan one post out into its followers’ home timelines',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  });
  const options = {
    concurrency,
    ackWaitMs: config.ackWaitMs,
    logger,
    onFanout: (timelines: number, seconds: number) => {
      fanoutTimelines.inc(timelines);
      fanoutSeconds.observe(seconds);
    },
  };
  const work = await startEventWork(ctx, {
    consumers: [fanoutConsumer(domain.projector, options), projectorConsumer(domain.projector, options)],
  });
  return {
    app,
    async stop() {
      await work.stop();
      await tracker?.close();
    },
  };
}
