import { int, url } from '@instantpost/config';
import { mediaUrlConfigSpec } from '@instantpost/media-urls';

/** feed's own variables, on top of the chassis ones (see README). */
export const configSpec = {
  mediaBaseUrl: url('MEDIA_BASE_URL', {
    default: 'http://localhost:8080/media',
    protocols: ['http', 'https'],
    doc: 'public base URL of renditions, as metadata uses it: `<base>/<mediaId>/<name>.<jpg|webp>?e=…&s=…` (signed)',
  }),
  ...mediaUrlConfigSpec,
  timelineCap: int('FEED_TIMELINE_CAP', {
    default: 800,
    min: 10,
    max: 100_000,
    doc: 'posts kept in each home timeline in Redis (older ones fall off; Mastodon keeps 400)',
  }),
  bigAccountFollowers: int('FEED_BIG_ACCOUNT_FOLLOWERS', {
    default: 10_000,
    min: 1,
    max: 1_000_000_000,
    doc: 'authors with more approved followers than this are not fanned out but merged at read time',
  }),
  inactiveAfterSeconds: int('FEED_INACTIVE_AFTER_SECONDS', {
    default: 30 * 24 * 3600,
    min: 1,
    max: 10 * 365 * 24 * 3600,
    doc: 'a timeline not read for this long expires; fan-out skips it and the next read rebuilds it from Postgres',
  }),
  fanoutBatch: int('FEED_FANOUT_BATCH', {
    default: 1000,
    min: 1,
    max: 100_000,
    doc: 'followers read from Postgres and written to Redis per pipelined batch (one heartbeat each)',
  }),
  consumerConcurrency: int('FEED_CONSUMER_CONCURRENCY', {
    default: 4,
    min: 1,
    max: 64,
    doc: 'events handled at once per consumer (keep at or below PG_POOL_MAX)',
  }),
  ackWaitMs: int('FEED_ACK_WAIT_MS', {
    default: 30_000,
    min: 1000,
    max: 600_000,
    doc: "ack wait of feed's consumers; long fan-outs stay alive through heartbeats (every third of it)",
  }),
};
