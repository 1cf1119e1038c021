import type { EventSubject } from '@instantpost/events';
import {
  advisoryStreamNameFor,
  dlqSubjectFor,
  natsSubjectFor,
  STREAM_NAMES,
  type StreamName,
  streamNameFor,
  streamOf,
} from './names.ts';

/** A service's durable consumers (its `defineConsumer` calls): name → subjects. */
export type BusConsumers = Readonly<Record<string, readonly EventSubject[]>>;

/**
 * What one service does on the bus besides its durable consumers. Kept next to the bus code because the
 * JetStream API subjects below are the ones this library's publisher, consumer runner and dead-lettering use.
 */
export interface BusRole {
  /** The event subjects it publishes (outbox relay or direct): nobody else may. */
  readonly publishes: readonly EventSubject[];
  /** Subjects every replica reads for itself with an ordered consumer (`tailEvents`). */
  readonly tails: readonly EventSubject[];
  /** Subjects it reads with a plain core subscription (live fan-out between its own replicas). */
  readonly subscribes: readonly EventSubject[];
}

/** The only input of a service's NATS permissions: its role and its consumers. */
export interface BusAccess extends BusRole {
  readonly consumers: BusConsumers;
}

/**
 * Who publishes and reads what (ARCHITECTURE.md's table, as the code declares it). The durable consumers
 * are not repeated here: `deploy/k8s-checks` reads them from the services' `defineConsumer` calls and
 * renders k8s/nats/auth.conf from both; a test runs every row against a nats-server with that file.
 */
export const SERVICE_BUS_ACCESS = {
  upload: {
    publishes: ['media.uploaded'],
    tails: ['session.revoked'],
    subscribes: [],
  },
  'media-processing': {
    publishes: ['media.processed', 'media.rejected'],
    tails: ['session.revoked'],
    subscribes: [],
  },
  metadata: {
    publishes: [
      'account.created',
      'account.updated',
      'session.revoked',
      'follow.created',
      'follow.approved',
      'follow.deleted',
      'post.published',
      'post.deleted',
      'like.created',
      'like.deleted',
      'comment.created',
    ],
    tails: ['session.revoked'],
    subscribes: [],
  },
  feed: {
    publishes: [],
    tails: ['session.revoked'],
    subscribes: [],
  },
  notification: {
    publishes: ['notification.created'],
    tails: ['session.revoked'],
    subscribes: ['notification.created'],
  },
} as const satisfies Record<string, BusRole>;

export type BusUser = keyof typeof SERVICE_BUS_ACCESS;

/** A NATS user's permissions: the subjects it may publish to and subscribe to (nothing else). */
export interface NatsPermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

const API = '$JS.API';

function streamsOf(subjects: readonly EventSubject[]): StreamName[] {
  return [...new Set(subjects.map((s) => streamOf(s) as StreamName))];
}

/** Creating, reading, pulling and acking one durable `<stream>.<name>`. */
function durableSubjects(at: string): string[] {
  return [
    // nats.js names the filter in the subject (CREATE.<stream>.<name>.<filter>) when there is one
    // filter, and uses DURABLE.CREATE for several (filter_subjects, 2.10+).
    `${API}.CONSUMER.CREATE.${at}`,
    `${API}.CONSUMER.CREATE.${at}.>`,
    `${API}.CONSUMER.DURABLE.CREATE.${at}`,
    `${API}.CONSUMER.INFO.${at}`,
    `${API}.CONSUMER.MSG.NEXT.${at}`,
    `$JS.ACK.${at}.>`,
  ];
}

/**
 * The permissions of a service's user. Its own subjects; reading stream and consumer state (start-up
 * checks, /readyz, /metrics); creating, reading and pulling only its own durables, acking their
 * messages and dead-lettering what they consumed; replies on `_INBOX.>`.
 */
export function servicePermissions(access: BusAccess, prefix?: string): NatsPermissions {
  const stream = (s: StreamName) => streamNameFor(s, prefix);
  const publish = new Set<string>(access.publishes.map((s) => natsSubjectFor(s, prefix)));
  const subscribe = new Set<string>(['_INBOX.>']);
  publish.add(`${API}.INFO`);
  for (const s of STREAM_NAMES) publish.add(`${API}.STREAM.INFO.${stream(s)}`);
  publish.add(`${API}.STREAM.INFO.${advisoryStreamNameFor(prefix)}`);
  for (const s of STREAM_NAMES) if (s !== 'DLQ') publish.add(`${API}.CONSUMER.LIST.${stream(s)}`);
  for (const [name, subjects] of Object.entries(access.consumers)) {
    for (const s of streamsOf(subjects)) {
      for (const subject of durableSubjects(`${stream(s)}.${name}`)) publish.add(subject);
      // After max deliveries the runner reads the message the advisory names and dead-letters it.
      publish.add(`${API}.STREAM.MSG.GET.${stream(s)}`);
    }
    // Its max-delivery advisories: a durable of the same name in ADVISORIES (max-deliveries.ts).
    for (const subject of durableSubjects(`${advisoryStreamNameFor(prefix)}.${name}`)) publish.add(subject);
    for (const subject of subjects) publish.add(dlqSubjectFor(subject, prefix));
    // the dead letter of an advisory whose event had already aged out of its stream
    publish.add(dlqSubjectFor('unknown', prefix));
  }
  for (const subject of access.tails) {
    const s = stream(streamOf(subject) as StreamName);
    // An ordered consumer gets a new random name each time it is (re)created: the filter is fixed,
    // the name cannot be.
    publish.add(`${API}.CONSUMER.CREATE.${s}.*.${natsSubjectFor(subject, prefix)}`);
    publish.add(`${API}.CONSUMER.INFO.${s}.*`);
    publish.add(`${API}.CONSUMER.MSG.NEXT.${s}.*`);
    publish.add(`${API}.CONSUMER.DELETE.${s}.*`);
    publish.add(`${API}.STREAM.MSG.GET.${s}`);
  }
  for (const subject of access.subscribes) subscribe.add(natsSubjectFor(subject, prefix));
  for (const subject of shardMapReadSubjects(prefix)) publish.add(subject);
  return { publish: [...publish], subscribe: [...subscribe] };
}

/**
 * The JetStream KV bucket of the live shard map: `shardmap`, `<PREFIX>_shardmap` with a prefix. The same rule
 * as libs/shards' `shardMapBucketFor` (the map store's; the permissions test checks they agree).
 */
export function shardMapBucketNameFor(prefix?: string): string {
  return prefix ? `${prefix.toUpperCase()}_shardmap` : 'shardmap';
}

/**
 * Reading and watching the live shard map (`openShardMapStore`: bucket info, `get`, `watch`), what every
 * service does at start and while it runs: the KV stream's info, direct and plain message gets, an ordered
 * consumer (created, read, deleted; its flow-control replies) delivering to `_INBOX`. No write.
 */
function shardMapReadSubjects(prefix?: string): string[] {
  const kv = `KV_${shardMapBucketNameFor(prefix)}`;
  return [
    `${API}.STREAM.INFO.${kv}`,
    `${API}.DIRECT.GET.${kv}`,
    `${API}.DIRECT.GET.${kv}.>`,
    `${API}.STREAM.MSG.GET.${kv}`,
    `${API}.CONSUMER.CREATE.${kv}`,
    `${API}.CONSUMER.CREATE.${kv}.>`,
    `${API}.CONSUMER.INFO.${kv}.*`,
    `${API}.CONSUMER.DELETE.${kv}.*`,
    `$JS.FC.${kv}.>`,
  ];
}

/**
 * The setup Jobs' user: declares and updates the streams (`ensureStreams`), creates the live shard map's
 * bucket and seeds or changes the map (`setupService`, `npm run shards -- move` in a Job), nothing else.
 */
export function setupPermissions(prefix?: string): NatsPermissions {
  const publish = [`${API}.INFO`];
  for (const name of [...STREAM_NAMES.map((s) => streamNameFor(s, prefix)), advisoryStreamNameFor(prefix)]) {
    publish.push(
      `${API}.STREAM.INFO.${name}`,
      `${API}.STREAM.CREATE.${name}`,
      `${API}.STREAM.UPDATE.${name}`,
    );
  }
  const bucket = shardMapBucketNameFor(prefix);
  publish.push(...shardMapReadSubjects(prefix), `${API}.STREAM.CREATE.KV_${bucket}`, `$KV.${bucket}.>`);
  return { publish, subscribe: ['_INBOX.>'] };
}
