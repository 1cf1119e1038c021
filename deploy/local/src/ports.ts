import { freePort } from '@instantpost/testing';

export { freePort };

/** Polls `url` until it answers 200, the process it belongs to died, or the time is up. */
export async function waitForOk(
  url: string,
  options: { timeoutMs: number; alive?: () => boolean },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (options.alive && !options.alive()) throw new Error(`process exited before ${url} answered`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not ready after ${options.timeoutMs} ms: ${last}`);
}
