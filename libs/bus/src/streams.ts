import {
  DiscardPolicy,
  type JetStreamManager,
  NatsError,
  nanos,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from 'nats';
import { BusConfigError, BusErrorCodes } from './errors.ts';
import {
  advisoryStreamNameFor,
  assertPrefix,
  maxDeliveriesSubject,
  natsSubjectFor,
  STREAM_NAMES,
  STREAM_SUBJECTS,
  type StreamName,
  streamNameFor,
} from './names.ts';

const DAY = 24 * 60 * 60 * 1000;
/** How long MEDIA, SOCIAL and NOTIFICATION keep events unless `maxAgeMs` says otherwise. */
export const DEFAULT_STREAM_MAX_AGE_MS = 7 * DAY;

/** How the streams are sized. Read from the service's configuration; the defaults suit local runs. */
export interface StreamOptions {
  /** Isolation prefix for tests: streams `<PREFIX>_MEDIA`, subjects `<prefix>.media.>`. */
  prefix?: string;
  /** How long events stay in MEDIA/SOCIAL/NOTIFICATION, replayable by a new or reset consumer. Default 7 days. */
  maxAgeMs?: number;
  /** How long dead letters stay in DLQ. Default 30 days. */
  dlqMaxAgeMs?: number;
  /**
   * Window in which a repeated `Nats-Msg-Id` is dropped. Held in server memory (~140 bytes per id), so
   * size it to the publisher's retry span (minutes), not hours. Default 2 minutes.
   */
  duplicateWindowMs?: number;
  /** Replicas per stream: 1 locally, 3 in production. Default 1. */
  replicas?: number;
  /** Optional size cap per stream in bytes (oldest events go first). Default unlimited. */
  maxBytes?: number;
}

/** What `ensureStreams` did to one stream. */
export interface StreamReport {
  readonly name: string;
  readonly action: 'created' | 'updated' | 'unchanged';
  readonly info: StreamInfo;
}

/** The settings the bus owns on each stream; anything else an operator set is left alone. */
type ManagedConfig = Pick<
  StreamConfig,
  | 'name'
  | 'description'
  | 'subjects'
  | 'retention'
  | 'storage'
  | 'discard'
  | 'max_age'
  | 'duplicate_window'
  | 'num_replicas'
  | 'max_bytes'
>;

/**
 * The configuration each stream should have, in the order they are created: the four of `STREAM_NAMES`,
 * then `ADVISORIES`, which captures the max-delivery advisories of MEDIA, SOCIAL and NOTIFICATION.
 */
export function desiredStreams(options: StreamOptions = {}): ManagedConfig[] {
  assertPrefix(options.prefix);
  const maxAge = options.maxAgeMs ?? DEFAULT_STREAM_MAX_AGE_MS;
  const dlqMaxAge = options.dlqMaxAgeMs ?? 30 * DAY;
  const window = options.duplicateWindowMs ?? 2 * 60 * 1000;
  if (window > Math.min(maxAge, dlqMaxAge)) {
    throw new BusConfigError(BusErrorCodes.Config, 'duplicateWindowMs must not exceed the streams max age');
  }
  const common = {
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(window),
    num_replicas: options.replicas ?? 1,
    max_bytes: options.maxBytes ?? -1,
  };
  const streams: ManagedConfig[] = STREAM_NAMES.map((stream: StreamName) => ({
    ...common,
    name: streamNameFor(stream, options.prefix),
    description:
      stream === 'DLQ'
        ? 'InstantPost dead letters (dlq.<subject>)'
        : `InstantPost ${stream.toLowerCase()} events`,
    subjects: STREAM_SUBJECTS[stream].map((s) => natsSubjectFor(s, options.prefix)),
    max_age: nanos(stream === 'DLQ' ? dlqMaxAge : maxAge),
  }));
  // Only the event streams' advisories, each by its own stream name, so that test prefixes never overlap
  // (a stream of `$JS.EVENT.ADVISORY.>` would capture every other prefix's too). Kept as long as the events
  // they name: past that there is nothing left to dead-letter.
  const eventStreams = STREAM_NAMES.filter((s) => s !== 'DLQ');
  streams.push({
    ...common,
    name: advisoryStreamNameFor(options.prefix),
    description:
      'InstantPost max-delivery advisories of the event streams (each consumer dead-letters its own)',
    subjects: eventStreams.map((s) => maxDeliveriesSubject(streamNameFor(s, options.prefix), '*')),
    max_age: nanos(maxAge),
  });
  return streams;
}

/**
 * Creates the streams, or updates the ones whose managed settings differ; a stream that already
 * matches is not touched (safe at every start of every replica). Throws `BusConfigError` when a
 * difference cannot be applied in place (storage or retention: migrate such a stream by hand).
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  options: StreamOptions = {},
): Promise<StreamReport[]> {
  const reports: StreamReport[] = [];
  for (const desired of desiredStreams(options)) reports.push(await ensureStream(jsm, desired));
  return reports;
}

async function ensureStream(jsm: JetStreamManager, desired: ManagedConfig): Promise<StreamReport> {
  let current = await infoOrUndefined(jsm, desired.name);
  if (!current) {
    try {
      return { name: desired.name, action: 'created', info: await jsm.streams.add(desired) };
    } catch (err) {
      // another replica created it first: fall through and compare
      current = await infoOrUndefined(jsm, desired.name);
      if (!current) throw err;
    }
  }
  const differences = differingKeys(current.config, desired);
  if (differences.length === 0) return { name: desired.name, action: 'unchanged', info: current };
  const immutable = differences.filter((k) => k === 'storage' || k === 'retention');
  if (immutable.length > 0) {
    throw new BusConfigError(
      BusErrorCodes.Config,
      `stream ${desired.name} has a different ${immutable.join(' and ')} than declared; it cannot be changed in place`,
    );
  }
  const { name, ...update } = desired;
  return { name, action: 'updated', info: await jsm.streams.update(name, update) };
}

/** The managed keys whose value on the server differs from the declaration. */
export function differingKeys(current: StreamConfig, desired: ManagedConfig): (keyof ManagedConfig)[] {
  const keys = Object.keys(desired) as (keyof ManagedConfig)[];
  return keys.filter((key) => {
    if (key === 'subjects')
      return [...current.subjects].sort().join(' ') !== [...desired.subjects].sort().join(' ');
    if (key === 'description') return (current.description ?? '') !== (desired.description ?? '');
    return current[key] !== desired[key];
  });
}

async function infoOrUndefined(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (err instanceof NatsError && err.api_error?.err_code === 10059) return undefined;
    throw err;
  }
}
