import type { Logger } from '@instantpost/telemetry';
import type { FastifyInstance } from 'fastify';

export interface ServeOptions {
  port: number;
  host: string;
  logger: Logger;
  /** Runs after the HTTP server stopped taking requests: drain consumers, flush the outbox, close clients. */
  onShutdown?: () => Promise<void>;
  /** Give up and exit 1 when shutdown takes longer than this. */
  shutdownTimeoutMs?: number;
}

/**
 * Listens, then on SIGTERM or SIGINT closes gracefully: Fastify stops accepting connections and answers
 * 503 to new requests while in-flight ones finish, `onShutdown` drains the rest, and the process exits 0.
 */
export async function serve(app: FastifyInstance, options: ServeOptions): Promise<void> {
  await app.listen({ port: options.port, host: options.host });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    options.logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      options.logger.error('shutdown timed out');
      process.exit(1);
    }, options.shutdownTimeoutMs ?? 10_000);
    timer.unref();
    try {
      await app.close();
      await options.onShutdown?.();
      options.logger.info('stopped');
      options.logger.flush();
      process.exit(0);
    } catch (err) {
      options.logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
