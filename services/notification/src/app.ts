import {
  type BuiltService,
  createServiceApp,
  openRedisTracking,
  type ServiceContext,
  startEventWork,
} from '@instantpost/chassis';
import type { ConfigOf } from '@instantpost/config';
import { gauge } from '@instantpost/http';
import type { configSpec } from './config.ts';
import { createNotifier } from './domain/notifier.ts';
import { createReader } from './domain/reader.ts';
import { createStreamHub } from './domain/stream-hub.ts';
import { createUnreadCounts } from './domain/unread.ts';
import { ACTIVITY_CONSUMER, activityConsumer } from './handlers/activity.ts';
import { registerNotificationRoutes } from './routes/notifications.ts';
import { registerStreamRoute } from './routes/stream.ts';
import { subscribeCreated } from './store/live.ts';
import { notificationStore } from './store/notifications.ts';
import { pageCache } from './store/pages.ts';
import { streamRegistry } from './store/stream-registry.ts';
import { unreadCache } from './store/unread.ts';
import { userStore } from './store/users.ts';

export type Context = ServiceContext<ConfigOf<typeof configSpec>>;

/** Builds notification's HTTP app and background work from its clients; tests build the same app. */
export async function buildApp(ctx: Context): Promise<BuiltService> {
  const { config, infra, logger } = ctx;
  const { shards, redis, nc } = infra;
  const app = await createServiceApp('notification', ctx);

  const notifications = notificationStore(shards);
  const users = userStore(shards);
  const tracking = config.redisClientTracking
    ? await openRedisTracking({ url: config.redisUrl, keyPrefix: config.redisPrefix, logger })
    : undefined;
  const pages = pageCache(redis, config.pageTtlSeconds, tracking);
  const unread = createUnreadCounts({
    notifications,
    cache: unreadCache(redis, config.unreadTtlSeconds),
    pages,
    logger,
  });
  const reader = createReader({ notifications, users, unread, pages });
  const hub = createStreamHub({ reader, logger });
  gauge(app, {
    name: 'instantpost_sse_streams',
    help: 'Notification streams (server-sent events) open in this replica',
    read: () => hub.connections(),
  });
  registerNotificationRoutes(app, reader);
  const registry = streamRegistry(redis, config.redisPrefix, logger);
  registerStreamRoute(app, { hub, registry, maxStreamsPerUser: config.maxStreamsPerUser });
  const closeRequests = await registry.listen(hub.closeStream);
  const stopHearingRevocations = infra.revocations.onRevoked((r) => hub.sessionEnded(r.userId, r.sessionId));

  // Streams end before the server closes, so clients reconnect elsewhere at once.
  const heartbeat = setInterval(() => hub.heartbeat(), config.heartbeatMs);
  heartbeat.unref();
  app.addHook('preClose', async () => {
    clearInterval(heartbeat);
    hub.closeAll();
  });

  const live = subscribeCreated(nc, config.natsPrefix, logger, hub.created);
  const notifier = createNotifier({
    notifications,
    unread,
    consumer: ACTIVITY_CONSUMER,
    likeGroupWindowMs: config.likeGroupWindowMs,
  });
  const work = await startEventWork(ctx, {
    outbox: true,
    // a replica without the consumer serves HTTP and streams only
    consumers: config.consumeEvents
      ? [activityConsumer({ notifier, users, pages, concurrency: config.consumerConcurrency })]
      : undefined,
  });

  return {
    app,
    stop: async () => {
      clearInterval(heartbeat);
      await work.stop();
      await live.stop();
      stopHearingRevocations();
      await closeRequests.stop();
      unread.stop();
      await tracking?.close();
    },
  };
}
