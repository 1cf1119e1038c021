import { createServer } from 'node:net';
import { freePort } from '@instantpost/testing';

export { freePort };

/** A port held open by this process until `release`: nothing else (a service binding port 0) can take it. */
export interface ReservedPort {
  readonly port: number;
  release(): Promise<void>;
}

/**
 * Reserves a free loopback port for a process started later that cannot bind port 0 and report back
 * (nginx): held until `release`, so only the moment between release and the process's bind is open to a race.
 */
export async function reservePort(): Promise<ReservedPort> {
  // Whoever connects meanwhile is hung up on at once (a held port serves nothing; an open connection
  // would also keep `release` from completing).
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port reserved');
  let released: Promise<void> | undefined;
  return {
    port: address.port,
    release: () => {
      released ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return released;
    },
  };
}

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
