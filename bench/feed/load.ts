/**
 * HTTP load generator for bench/feed/run.ts, run in its own process (pinned to another core than the
 * server): `connections` keep-alive connections, each sending GET requests back to back for `seconds`.
 * Prints `{ requests, errors, rps, p50, p99 }` (latencies in ms) as one JSON line.
 *
 *   node --import tsx bench/feed/load.ts <url> <bearer token|-> <connections> <seconds>
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { percentile } from '../stats.ts';

const [url, token, connectionsArg, secondsArg] = process.argv.slice(2);
if (!url || !token || !connectionsArg || !secondsArg)
  throw new Error('usage: load.ts <url> <token|-> <connections> <seconds>');
const connections = Number(connectionsArg);
const seconds = Number(secondsArg);
const agent = new Agent({ keepAlive: true, maxSockets: connections });
const target = new URL(url);
const headers: Record<string, string> = token === '-' ? {} : { authorization: `Bearer ${token}` };

function once(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        headers,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const latencies: number[] = [];
let errors = 0;
const start = performance.now();
const end = start + seconds * 1000;
await Promise.all(
  Array.from({ length: connections }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const status = await once().catch(() => 0);
      if (status === 200) latencies.push(performance.now() - t0);
      else errors++;
    }
  }),
);
const elapsed = (performance.now() - start) / 1000;
process.stdout.write(
  `${JSON.stringify({ requests: latencies.length, errors, rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) })}\n`,
);
agent.destroy();
