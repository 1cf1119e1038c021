import { bool, int } from '@instantpost/config';

/** notification's own variables, on top of the chassis ones (see README). */
export const configSpec = {
  likeGroupWindowMs: int('NOTIFICATION_LIKE_GROUP_WINDOW_MS', {
    default: 3_600_000,
    min: 0,
    max: 7 * 24 * 3_600_000,
    doc: 'likes of one post join the same unread item while it is younger than this (from its first like)',
  }),
  heartbeatMs: int('NOTIFICATION_SSE_HEARTBEAT_MS', {
    default: 15_000,
    min: 100,
    max: 300_000,
    doc: 'comment line sent on every idle SSE stream this often, so proxies keep it open',
  }),
  maxStreamsPerUser: int('NOTIFICATION_MAX_STREAMS_PER_USER', {
    default: 5,
    min: 1,
    max: 1000,
    doc: 'open SSE streams per user across replicas; a new one closes the oldest',
  }),
  unreadTtlSeconds: int('NOTIFICATION_UNREAD_TTL_SECONDS', {
    default: 3600,
    min: 1,
    max: 30 * 86_400,
    doc: 'how long a cached unread count lives in Redis before it is recounted from Postgres',
  }),
  pageTtlSeconds: int('NOTIFICATION_PAGE_TTL_SECONDS', {
    default: 600,
    min: 1,
    max: 86_400,
    doc: 'how long a cached first page lives in Redis unless a change to the list or to an actor drops it',
  }),
  consumeEvents: bool('NOTIFICATION_CONSUME_EVENTS', {
    default: true,
    doc: 'run the event consumer in this replica (false: HTTP and streams only)',
  }),
  consumerConcurrency: int('NOTIFICATION_CONSUMER_CONCURRENCY', {
    default: 4,
    min: 1,
    max: 64,
    doc: 'batches (of up to 100 events) handled at once per replica; keep at or below PG_POOL_MAX',
  }),
};
