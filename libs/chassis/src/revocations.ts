import { tailEvents } from '@instantpost/bus';
import { SessionRevocations } from '@instantpost/http';
import type { Logger } from '@instantpost/telemetry';
import type { JetStreamClient, JetStreamManager } from 'nats';

/** metadata's ACCESS_TOKEN_TTL_SECONDS allows at most a day: no token outlives a revocation by more. */
const LONGEST_TOKEN_MS = 24 * 60 * 60 * 1000;
/** A replica that cannot read the revocations this fast starts anyway (and logs it) rather than never. */
const CATCH_UP_MS = 10_000;

/**
 * Keeps this replica's list of ended sessions: the `session.revoked` events of the last day, then every
 * new one as metadata publishes it (through its outbox, so a logout reaches every replica in well under
 * a second while NATS is up).
 */
export async function watchRevocations(options: {
  js: JetStreamClient;
  jsm: JetStreamManager;
  prefix: string;
  logger: Logger;
}): Promise<{ list: SessionRevocations; stop(): Promise<void> }> {
  const list = new SessionRevocations(LONGEST_TOKEN_MS);
  const tail = await tailEvents({
    js: options.js,
    jsm: options.jsm,
    subject: 'session.revoked',
    sinceMs: Date.now() - LONGEST_TOKEN_MS,
    prefix: options.prefix || undefined,
    logger: options.logger,
    onEvent: ({ data }) =>
      list.add({ userId: data.userId, sessionId: data.sessionId, revokedAtMs: Date.parse(data.revokedAt) }),
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), CATCH_UP_MS);
  });
  if ((await Promise.race([tail.caughtUp, timeout])) === 'timeout') {
    options.logger.warn('starting before every session revocation was read; they keep arriving');
  }
  clearTimeout(timer);
  const pruner = setInterval(() => list.prune(), 60 * 60 * 1000);
  pruner.unref();
  return {
    list,
    async stop() {
      clearInterval(pruner);
      await tail.stop();
    },
  };
}
