import type { RedisTracking } from '@instantpost/chassis';
import { createMediaUrlSigner } from '@instantpost/media-urls';
import type { Shards } from '@instantpost/shards';
import type { Redis } from 'ioredis';
import { hydrationCache } from '../store/cache.ts';
import { likeBatchStore } from '../store/like-batches.ts';
import { projectionStore } from '../store/projections.ts';
import { timelineStore } from '../store/timelines.ts';
import { FeedReader } from './feed.ts';
import { FeedProjector } from './projector.ts';
import { TimelineBuilder } from './timelines.ts';
import type { FeedSettings, FeedStores } from './types.ts';

export interface FeedDomain {
  stores: FeedStores;
  projector: FeedProjector;
  reader: FeedReader;
  builder: TimelineBuilder;
}

/** Wires feed's stores and domain objects from its clients (the app, the rebuild command and tests share it). */
export function createFeedDomain(deps: {
  shards: Shards;
  redis: Redis;
  redisPrefix: string;
  /** Redis tracking of page versions (the app has one; commands do without). */
  tracker?: RedisTracking;
  settings: FeedSettings & {
    inactiveAfterSeconds: number;
    mediaBaseUrl: string;
    mediaUrlSigningKey: string;
    mediaUrlTtlSeconds: number;
    mediaUrlBucketSeconds: number;
  };
}): FeedDomain {
  const { settings } = deps;
  const stores: FeedStores = {
    projections: projectionStore(deps.shards),
    likes: likeBatchStore(deps.shards),
    timelines: timelineStore(deps.redis, {
      prefix: deps.redisPrefix,
      cap: settings.timelineCap,
      ttlSeconds: settings.inactiveAfterSeconds,
      tracker: deps.tracker,
    }),
    cache: hydrationCache(deps.redis),
  };
  const builder = new TimelineBuilder(stores, settings);
  return {
    stores,
    builder,
    projector: new FeedProjector(stores, settings),
    reader: new FeedReader(
      stores,
      builder,
      createMediaUrlSigner({
        baseUrl: settings.mediaBaseUrl,
        key: settings.mediaUrlSigningKey,
        ttlSeconds: settings.mediaUrlTtlSeconds,
        bucketSeconds: settings.mediaUrlBucketSeconds,
      }),
      { inactiveAfterSeconds: settings.inactiveAfterSeconds },
    ),
  };
}
