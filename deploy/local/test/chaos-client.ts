/**
 * A mobile app's HTTP behaviour for the chaos run: every request has a deadline, and an operation that gets
 * a 5xx, a 429, a timeout or a broken connection is retried with backoff, a bounded number of times, as an
 * app would. Every answer that was not the success is counted by operation kind and status.
 */
import { sleep } from '@instantpost/testing';

/** What one request ended with: an HTTP status, or no answer. */
export type Outcome =
  | { status: number; body: unknown }
  | { status: 'timeout' | 'connection error'; body: undefined };

export interface RetryPolicy {
  attempts: number;
  requestTimeoutMs: number;
  /** First pause; doubles up to `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
}

export const APP_RETRIES: RetryPolicy = {
  attempts: 20,
  requestTimeoutMs: 15_000,
  backoffMs: 250,
  maxBackoffMs: 2_000,
};

/** Answers seen by clients that were not the success, by operation kind, then status (and by phase). */
export class ErrorLog {
  readonly seen = new Map<string, Map<string, number>>();
  /** The same answers by what was going on when they came (`phase`), then `<kind> <status>`. */
  readonly byPhase = new Map<string, Map<string, number>>();
  /** What is going on now, e.g. the fault in progress. */
  phase = 'no fault';

  add(kind: string, status: number | string): void {
    const count = (map: Map<string, Map<string, number>>, key: string, what: string) => {
      const byWhat = map.get(key) ?? new Map<string, number>();
      byWhat.set(what, (byWhat.get(what) ?? 0) + 1);
      map.set(key, byWhat);
    };
    count(this.seen, kind, String(status));
    count(this.byPhase, this.phase, `${kind} ${status}`);
  }

  total(): number {
    let n = 0;
    for (const byStatus of this.seen.values()) for (const count of byStatus.values()) n += count;
    return n;
  }
}

export interface Request {
  method: string;
  path: string;
  token?: string;
  json?: unknown;
  /** Built per attempt (a FormData is consumed by the request that sends it). */
  form?: () => FormData;
}

export async function send(baseUrl: string, req: Request, timeoutMs: number): Promise<Outcome> {
  const headers: Record<string, string> = {};
  if (req.token) headers.authorization = `Bearer ${req.token}`;
  let body: string | FormData | undefined;
  if (req.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(req.json);
  } else if (req.form) {
    body = req.form();
  }
  try {
    const res = await fetch(`${baseUrl}${req.path}`, {
      method: req.method,
      headers,
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed };
  } catch (err) {
    const name = (err as Error).name;
    return {
      status: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'connection error',
      body: undefined,
    };
  }
}

const retryable = (outcome: Outcome, alsoRetry: readonly number[]) =>
  typeof outcome.status !== 'number' ||
  outcome.status >= 500 ||
  outcome.status === 429 ||
  alsoRetry.includes(outcome.status);

/**
 * Sends `request(attempt)` until it answers `success`; retries what an app retries. Resolves with the
 * successful outcome, or undefined when the attempts ran out or the answer cannot be retried.
 */
export async function withRetries(
  baseUrl: string,
  kind: string,
  errors: ErrorLog,
  success: number,
  request: (attempt: number) => Request,
  options: { policy?: RetryPolicy; alsoRetry?: readonly number[] } = {},
): Promise<{ status: number; body: unknown } | undefined> {
  const policy = options.policy ?? APP_RETRIES;
  let pause = policy.backoffMs;
  for (let attempt = 0; attempt < policy.attempts; attempt++) {
    const outcome = await send(baseUrl, request(attempt), policy.requestTimeoutMs);
    if (outcome.status === success) return outcome as { status: number; body: unknown };
    errors.add(kind, outcome.status);
    if (!retryable(outcome, options.alsoRetry ?? [])) return undefined;
    await sleep(pause);
    pause = Math.min(pause * 2, policy.maxBackoffMs);
  }
  return undefined;
}
