/**
 * Whether an error means a dependency (Postgres, Redis, NATS, S3) cannot be reached or answered too late,
 * rather than a bug: the request then gets 503 with `Retry-After` — the client may simply try again — and
 * not a 500. Looks through `cause` chains (wrapped errors).
 */
export function isDependencyOutage(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && OUTAGE_CODES.has(code)) return true;
    if (OUTAGE_NAMES.has(e.name)) return true;
    if (OUTAGE_MESSAGES.some((pattern) => pattern.test(e instanceof Error ? e.message : ''))) return true;
  }
  return false;
}

const OUTAGE_CODES = new Set([
  // sockets (every client)
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  // postgres.js
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  // Postgres SQLSTATE: shutting down, starting up, too many connections, connection failures,
  // statement_timeout / idle-in-transaction deadline hit
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08006',
  '57014',
  '25P03',
  // nats.js (CONNECTION_CLOSED above too)
  'DISCONNECT',
  'CONNECTION_REFUSED',
  'TIMEOUT',
]);

/** ioredis' and the AWS SDK's error classes for the same conditions. */
const OUTAGE_NAMES = new Set(['MaxRetriesPerRequestError', 'TimeoutError', 'RequestTimeout']);

/** ioredis without its offline queue, or a command past `commandTimeout`. */
const OUTAGE_MESSAGES = [/^Stream isn't writeable/, /^Connection is closed/, /^Command timed out/];
