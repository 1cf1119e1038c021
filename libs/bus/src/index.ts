/**
 * @instantpost/bus — NATS JetStream for InstantPost: the streams, a publisher, the transactional outbox
 * and its relay, the consumer runner with retries and dead letters, and the inbox for idempotent handlers.
 */

export {
  type BusAccess,
  type BusConsumers,
  type BusRole,
  type BusUser,
  type NatsPermissions,
  SERVICE_BUS_ACCESS,
  servicePermissions,
  setupPermissions,
  shardMapBucketNameFor,
} from './access.ts';
export {
  type BatchContext,
  type BatchHandler,
  type ConsumerDefinition,
  type ConsumerRunner,
  type ConsumerStats,
  type DeliveryOutcome,
  defineConsumer,
  type EventHandler,
  type HandlerContext,
  type HandlerMap,
  type StartConsumerOptions,
  startConsumer,
} from './consumer.ts';
export {
  type ConsumerSettings,
  type DurableConfig,
  ensureConsumer,
  filterFor,
  projectionBatching,
  type ResolvedSettings,
  resolveSettings,
} from './consumer-config.ts';
export {
  type DeadLetter,
  type DeadLetterError,
  DeadLetterHeaders,
  parseDeadLetter,
  publishDeadLetter,
} from './dead-letter.ts';
export {
  listDeadLetters,
  purgeDeadLetters,
  replayDeadLetters,
  type StoredDeadLetter,
} from './dlq.ts';
export {
  BusConfigError,
  type BusErrorCode,
  BusErrorCodes,
  NonRetryableError,
  PublishError,
} from './errors.ts';
export { handleOnce, pruneInbox, withInbox, withInboxBatch } from './inbox.ts';
export { type InboxPruner, type InboxPrunerOptions, startInboxPruner } from './inbox-pruner.ts';
export { LOCAL_WAKE_SETTING, relayedHere, wakeRelaysHere } from './local-wake.ts';
export {
  dlqSubjectFor,
  eventSubjectOf,
  natsSubjectFor,
  STREAM_NAMES,
  STREAM_SUBJECTS,
  type StreamName,
  streamNameFor,
  streamOf,
} from './names.ts';
export {
  EXTRA_NATS_USERS,
  NATS_USERS,
  type NatsUser,
  passwordVariable,
  permissionsOf,
  renderNatsAuthorization,
  type ServiceConsumers,
} from './nats-auth.ts';
export {
  busMigrations,
  enqueue,
  OUTBOX_CHANNEL,
  type OutboxRow,
  type OutboxShard,
  outboxChannel,
  outboxOldestUnsentSeconds,
  outboxRows,
  outboxStatus,
} from './outbox.ts';
export {
  createPublisher,
  type Publisher,
  type PublisherOptions,
  type PublishReceipt,
  type SerializedEvent,
} from './publisher.ts';
export {
  type OutboxRelay,
  type OutboxRelayOptions,
  type RelayedBatch,
  type RelayStats,
  startOutboxRelay,
} from './relay.ts';
export {
  DEFAULT_STREAM_MAX_AGE_MS,
  desiredStreams,
  ensureStreams,
  type StreamOptions,
  type StreamReport,
} from './streams.ts';
export { type EventTail, type TailOptions, tailEvents } from './tail.ts';
