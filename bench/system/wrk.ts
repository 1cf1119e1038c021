/**
 * Closed-loop capacity of one endpoint with wrk (Debian's `wrk`: a C load generator, far lighter than a
 * Node one — PITFALLS), `connections` keep-alive connections from one thread. The requests (path and
 * token) rotate through a list given up front, written into a Lua script of wrk's: each connection sends
 * the next one as soon as the last answered. Without wrk the same loop runs in Node (`closedLoop`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HttpClient } from './http.ts';
import { closedLoop, type PlannedCall } from './load.ts';
import { haveTaskset } from './pin.ts';

/**
 * Whether Debian's wrk is there; as root it is installed when missing (as `npm test` installs nginx), since
 * the Node fallback is a far heavier generator and gives no latency percentiles.
 */
function ensureWrk(): boolean {
  if (spawnSync('wrk', ['-v']).error === undefined) return true;
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      'wrk is missing (sudo apt-get install -y wrk): falling back to a Node closed loop\n',
    );
    return false;
  }
  process.stderr.write("installing wrk (the endpoint load generator) from Debian's packages…\n");
  const install = spawnSync(
    'sh',
    ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return install.status === 0 && spawnSync('wrk', ['-v']).error === undefined;
}

export const haveWrk = ensureWrk();

export interface Capacity {
  /** Answers with a 2xx status per second. */
  throughput: number;
  /** Latency percentiles under that load (ms); NaN from the Node fallback. */
  p50: number;
  p99: number;
  /** Socket errors and non-2xx answers. */
  failed: number;
}

const lua = (s: string) => JSON.stringify(s); // a JSON string is a valid Lua string literal for ASCII

/**
 * `Accept-Encoding` sent with every request (none by default: the gateway then sends JSON as it is). Read at
 * each run (reads.ts sets it from BENCH_ACCEPT_ENCODING), so its interactive `encoding <value|off>` switches it between measurements.
 */
export const requestEncoding: { value: string | undefined } = { value: undefined };

function script(calls: readonly { path: string; token?: string }[]): string {
  const encoding =
    requestEncoding.value === undefined
      ? ''
      : `headers["Accept-Encoding"] = ${lua(requestEncoding.value)}\n    `;
  const rows = calls
    .map((c) => `  {${lua(c.path)}, ${c.token === undefined ? 'nil' : lua(`Bearer ${c.token}`)}},`)
    .join('\n');
  return `local calls = {
${rows}
}
local formatted = {}
local i = 0
init = function(args)
  for k, c in ipairs(calls) do
    local headers = {}
    if c[2] then headers["Authorization"] = c[2] end
    ${encoding}formatted[k] = wrk.format("GET", c[1], headers)
  end
end
request = function()
  i = i % #formatted + 1
  return formatted[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nRESULT {"requests":%d,"us":%d,"p50":%d,"p99":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout + e.status))
end
`;
}

export async function capacity(
  url: string,
  client: HttpClient,
  calls: readonly PlannedCall[],
  connections: number,
  seconds: number,
): Promise<Capacity> {
  if (!haveWrk) {
    const r = await closedLoop(client, connections, seconds, (i) => calls[i % calls.length] as PlannedCall);
    return { throughput: r.throughput, p50: Number.NaN, p99: Number.NaN, failed: r.failed };
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-wrk-'));
  try {
    const file = join(dir, 'calls.lua');
    writeFileSync(file, script(calls));
    // The generator's own CPU (1), away from the stack's (pin.ts), also when this process is not pinned.
    const out = execFileSync(
      haveTaskset ? 'taskset' : 'wrk',
      [
        ...(haveTaskset ? ['-c', '1', 'wrk'] : []),
        '-t1',
        `-c${connections}`,
        `-d${seconds}s`,
        '--timeout',
        '5s',
        '-s',
        file,
        `${url}${calls[0]?.path}`,
      ],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    const line = out.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`wrk printed no result:\n${out}`);
    const r = JSON.parse(line.slice('RESULT '.length)) as {
      requests: number;
      us: number;
      p50: number;
      p99: number;
      errors: number;
    };
    return {
      throughput: (r.requests - r.errors) / (r.us / 1e6),
      p50: r.p50 / 1000,
      p99: r.p99 / 1000,
      failed: r.errors,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Endpoint {
  name: string;
  calls: PlannedCall[];
}

export interface EndpointFigure {
  name: string;
  /** Every round's run pooled: mean throughput, worst p99 of the rounds. */
  throughput: number;
  p99: number;
  failed: number;
  /** Median over rounds of (this endpoint's req/s / the bare route's req/s in the same round). */
  ratio: number;
  bareThroughput: number;
  bareP99: number;
}

/**
 * Each endpoint's capacity next to the bare route's, side by side in one run: per round the bare route,
 * then every endpoint, each `seconds` long at `connections`; ratios are taken within a round (absolute
 * req/s drift by up to 2× over minutes here, PITFALLS) and their median is reported.
 */
export async function endpointRounds(
  url: string,
  client: HttpClient,
  bare: Endpoint,
  endpoints: readonly Endpoint[],
  options: {
    rounds: number;
    connections: number;
    seconds: number;
    warmupSeconds: number;
    /** Runs before every round, e.g. re-pinning the stack (an nginx worker was seen on both CPUs). */
    beforeRound?: () => void;
    /**
     * Called as each endpoint's measured run starts; what it returns is called when it ends and its text
     * is logged with the run (the processes' CPU over it: who else took turns on the stack's CPU).
     */
    cpuOfRun?: () => () => string;
  },
  log: (line: string) => void,
): Promise<EndpointFigure[]> {
  const run = (e: Endpoint, seconds: number) => capacity(url, client, e.calls, options.connections, seconds);
  options.beforeRound?.();
  for (const e of [bare, ...endpoints]) await run(e, options.warmupSeconds);
  const bareRuns: Capacity[] = [];
  const runs = new Map<string, Capacity[]>(endpoints.map((e) => [e.name, []]));
  const fmt = (c: Capacity) =>
    `${c.throughput.toFixed(0)} req/s p50 ${c.p50.toFixed(1)} ms p99 ${c.p99.toFixed(1)} ms${c.failed ? ` (${c.failed} failed)` : ''}`;
  for (let round = 1; round <= options.rounds; round++) {
    options.beforeRound?.();
    const b = await run(bare, options.seconds);
    bareRuns.push(b);
    log(`  round ${round} ${bare.name.padEnd(24)} ${fmt(b)}`);
    for (const e of endpoints) {
      const cpu = options.cpuOfRun?.();
      const r = await run(e, options.seconds);
      runs.get(e.name)?.push(r);
      log(
        `  round ${round} ${e.name.padEnd(24)} ${fmt(r)}  ratio ${(r.throughput / b.throughput).toFixed(2)}${cpu ? `  cores: ${cpu()}` : ''}`,
      );
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
  };
  return endpoints.map((e) => {
    const list = runs.get(e.name) as Capacity[];
    return {
      name: e.name,
      throughput: mean(list.map((r) => r.throughput)),
      p99: Math.max(...list.map((r) => r.p99)),
      failed: list.reduce((a, r) => a + r.failed, 0),
      ratio: median(list.map((r, i) => r.throughput / (bareRuns[i] as Capacity).throughput)),
      bareThroughput: mean(bareRuns.map((r) => r.throughput)),
      bareP99: Math.max(...bareRuns.map((r) => r.p99)),
    };
  });
}
