import { freePort } from '@instantpost/testing';

export { freePort };

/** Polls `url` until it answers 200, the process it belongs to died, or the time is up. */
export async function waitForOk(
  url: string,
  options: {
    timeoutMs: number;
    alive?: () => boolean;
    /**
     * A header the answer must carry: tells the process started from another that took its port first
     * (ports from freePort are free when chosen, not when bound, and parallel tests choose at once).
     */
    header?: readonly [name: string, value: string];
  },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (options.alive && !options.alive()) throw new Error(`process exited before ${url} answered`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      const [name, value] = options.header ?? [];
      const ours = !name || res.headers.get(name) === value;
      if (res.status === 200 && ours) return;
      last = ours ? `${res.status} ${await res.text()}` : `another process answers on this port (no ${name})`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not ready after ${options.timeoutMs} ms: ${last}`);
}
