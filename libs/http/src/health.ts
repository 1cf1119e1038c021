import type { FastifyInstance } from 'fastify';

/** A dependency check for /readyz: resolves when the dependency answers. */
export type ReadinessCheck = () => Promise<unknown>;

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `/healthz` answers while the process runs (liveness never checks dependencies);
 * `/readyz` answers 200 only when every dependency check passes, 503 problem+json naming the failures.
 */
export function registerHealth(
  app: FastifyInstance,
  checks: Record<string, ReadinessCheck>,
  timeoutMs = 1500,
): void {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (request, reply) => {
    const names = Object.keys(checks);
    const results = await Promise.all(names.map((n) => runCheck(checks[n] as ReadinessCheck, timeoutMs)));
    const report = Object.fromEntries(names.map((n, i) => [n, results[i]]));
    const failing = names.filter((_, i) => results[i] !== 'ok');
    if (failing.length === 0) return { status: 'ready', checks: report };
    return reply
      .status(503)
      .type('application/problem+json')
      .send({
        type: 'https://instantpost.dev/problems/503',
        title: 'Service Unavailable',
        status: 503,
        detail: `not ready: ${failing.map((n) => `${n} (${report[n]})`).join(', ')}`,
        code: 'NOT_READY',
        checks: report,
        requestId: request.id,
      });
  });
}
