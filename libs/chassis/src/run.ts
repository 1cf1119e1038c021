import { fileURLToPath } from 'node:url';
import { type ConfigOf, type ConfigSpec, loadConfig } from '@instantpost/config';
import { flushErrorTracking, serve, startErrorTracking } from '@instantpost/http';
import { createLogger, type Logger, shutdownTelemetry } from '@instantpost/telemetry';
import type { FastifyInstance } from 'fastify';
import { type ChassisConfig, chassisSpec, type ServiceName } from './config.ts';
import { type Infra, openInfra } from './infra.ts';

/** What a service's `buildApp` gets: its configuration, clients and logger. */
export interface ServiceContext<C> {
  readonly config: ChassisConfig & C;
  readonly infra: Infra;
  readonly logger: Logger;
}

/** What a service hands back: its HTTP app and the work to stop before the clients close. */
export interface BuiltService {
  app: FastifyInstance;
  /** Stop consumers and relays (drain), in the order the service needs. */
  stop?: () => Promise<void>;
}

export interface RunServiceOptions<S extends ConfigSpec> {
  service: ServiceName;
  /** The service's own variables, on top of the chassis ones. */
  spec: S;
  /** The service's `src/sql/migrations` directory. */
  migrations: URL;
  build: (ctx: ServiceContext<ConfigOf<S>>) => Promise<BuiltService>;
}

/**
 * The process of a service: parse the environment (exit 1 naming every bad variable), open the
 * clients, build the app, listen, and on SIGTERM stop taking requests, drain, close clients, exit 0.
 */
export async function runService<S extends ConfigSpec>(options: RunServiceOptions<S>): Promise<void> {
  let config: ChassisConfig & ConfigOf<S>;
  try {
    config = loadConfig({ ...chassisSpec(options.service), ...options.spec }) as ChassisConfig & ConfigOf<S>;
  } catch (err) {
    process.stderr.write(`${options.service}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const logger = createLogger({ service: options.service, level: config.logLevel });
  if (
    await startErrorTracking({
      dsn: config.sentryDsn,
      service: options.service,
      release: config.sentryRelease,
      environment: config.sentryEnvironment,
    })
  ) {
    logger.info('error tracking on: unhandled errors and 5xx answers are reported to SENTRY_DSN');
  }
  let infra: Infra;
  try {
    infra = await openInfra(options.service, config, logger, fileURLToPath(options.migrations));
  } catch (err) {
    logger.fatal({ err }, 'start-up failed');
    logger.flush();
    await flushErrorTracking();
    process.exit(1);
  }
  const { app, stop } = await options.build({ config, infra, logger });
  await serve(app, {
    port: config.port,
    host: config.host,
    logger,
    onShutdown: async () => {
      await stop?.();
      await infra.close();
      await shutdownTelemetry();
      await flushErrorTracking();
    },
  });
  announcePort(app);
}

/**
 * Tells the parent that started this process with an IPC channel (the local stack and tests start
 * services with PORT=0) which port it bound, and stops when that parent goes; without a channel (a
 * cluster, a terminal) it does nothing.
 */
function announcePort(app: FastifyInstance): void {
  const address = app.server.address();
  if (!process.send || typeof address !== 'object' || address === null) return;
  process.send({ type: 'listening', port: address.port });
  process.channel?.unref();
  // The parent is gone (a test runner killed, a stack runner crashed): stop as on SIGTERM, not live on orphaned.
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

/** A service's configuration, logger and clients for its operator commands (rebuild, reprocess, ...). */
export async function openServiceContext<S extends ConfigSpec>(
  service: ServiceName,
  spec: S,
  migrations: URL,
): Promise<ServiceContext<ConfigOf<S>>> {
  const config = loadConfig({ ...chassisSpec(service), ...spec }) as ChassisConfig & ConfigOf<S>;
  const logger = createLogger({ service, level: config.logLevel });
  const infra = await openInfra(service, config, logger, fileURLToPath(migrations));
  return { config, infra, logger };
}
