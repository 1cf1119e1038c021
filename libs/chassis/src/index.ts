export { createServiceApp } from './app.ts';
export { BoundedMap, perText } from './bounded.ts';
export { DLQ_METRIC_OWNER } from './bus-metrics.ts';
export {
  type ChassisConfig,
  chassisSpec,
  LOCAL_SHARD_MAP,
  SERVICE_PORTS,
  type ServiceName,
} from './config.ts';
export { type EventWork, type EventWorkOptions, startEventWork } from './event-work.ts';
export { type Infra, migrationSources, openInfra } from './infra.ts';
export { execOrThrow } from './redis-batch.ts';
export { type Hold, openRedisTracking, type RawRead, type RedisTracking } from './redis-tracking.ts';
export {
  type BuiltService,
  openServiceContext,
  type RunServiceOptions,
  runService,
  type ServiceContext,
} from './run.ts';
export { type SetupOptions, setupCommand, setupService } from './setup.ts';
