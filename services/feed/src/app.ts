import { type ConsumerRunner, startConsumer } from '@instantpost/bus';
import { type BuiltService, createServiceApp, type ServiceContext } from '@instantpost/chassis';
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
  const start = { nc: infra.nc, prefix: config.natsPrefix, logger };
  const runners: ConsumerRunner[] = [];
  try {
    const options = { concurrency, ackWaitMs: config.ackWaitMs, logger };
    runners.push(await startConsumer({ ...start, definition: fanoutConsumer(domain.projector, options) }));
    runners.push(await startConsumer({ ...start, definition: projectorConsumer(domain.projector, options) }));
  } catch (err) {
    await Promise.all(runners.map((r) => r.stop()));
    throw err;
  }
  return {
    app,
    stop: async () => {
      await Promise.all(runners.map((r) => r.stop()));
    },
  };
}
