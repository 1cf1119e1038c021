import { loadConfig, optional, str } from '@instantpost/config';
import { connect, type NatsConnection } from 'nats';
import { type LiveShardMap, liveMapFromConfig, liveMapToJson, MOVE_STEPS, rangesOf } from './live-map.ts';
import { openShardMapStore, type ShardMapStore } from './map-store.ts';
import { abortMove, moveShard } from './move.ts';
import { applyRebalance, planRebalance } from './rebalance.ts';
import { databasesOf, type ShardMap } from './shard-map.ts';
import { redactUrl } from './urls.ts';

/** Where the live map is: the services' own NATS variables. */
const natsSpec = {
  natsUrl: str('NATS_URL', { default: 'nats://127.0.0.1:4222', doc: 'NATS servers, comma-separated' }),
  natsPrefix: str('NATS_PREFIX', { default: '', pattern: /^[a-z0-9]*$/, doc: 'test isolation prefix' }),
  natsUser: optional(str('NATS_USER', { doc: 'NATS user' })),
  natsPassword: optional(str('NATS_PASSWORD', { secret: true, doc: "NATS_USER's password" })),
};

async function withStore<T>(fn: (store: ShardMapStore) => Promise<T>): Promise<T> {
  const config = loadConfig(natsSpec);
  const nc: NatsConnection = await connect({
    servers: config.natsUrl.split(','),
    name: 'shards-cli',
    ...(config.natsUser ? { user: config.natsUser, pass: config.natsPassword ?? '' } : {}),
  });
  try {
    return await fn(await openShardMapStore(nc.jetstream(), { prefix: config.natsPrefix }));
  } finally {
    await nc.drain();
  }
}

function render(live: LiveShardMap, seeded: boolean): string {
  const map = rangesOf(live);
  const rows = map.ranges.map(
    (r) => `  ${(r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`).padEnd(10)}${redactUrl(r.url)}`,
  );
  const moves = Object.entries(live.moves).map(
    ([shard, m]) =>
      `  shard ${shard} moving to ${redactUrl(m.to)}: ${
        m.step === 'aborting' ? 'being given up' : `step ${m.step} (${MOVE_STEPS.indexOf(m.step) + 1}/4)`
      }, started ${m.startedAt}`,
  );
  return [
    `${map.shardCount} logical shards on ${databasesOf(map).length} databases, ` +
      (seeded ? `live map version ${live.version}` : 'from SHARD_MAP (no live map stored yet)'),
    `  ${'shards'.padEnd(10)}database`,
    ...rows,
    ...moves,
  ].join('\n');
}

/** `map`: the live map (SHARD_MAP, version 0, before any service seeded it); `--json` for scripts. */
export async function mapCommand(
  fallback: ShardMap,
  options: { json: boolean; reveal: boolean },
): Promise<void> {
  const stored = await withStore((store) => store.get());
  const live = stored ?? { ...liveMapFromConfig(fallback), version: 0 };
  console.log(
    options.json ? JSON.stringify(liveMapToJson(live, options)) : render(live, stored !== undefined),
  );
}

/** `move <shard> <url>`: seeds the live map from SHARD_MAP when absent, then moves (or resumes) the shard. */
export async function moveCommand(
  seed: ShardMap,
  shardText: string | undefined,
  target: string | undefined,
  retireGraceMs: number,
): Promise<void> {
  const shard = Number(shardText);
  if (shardText === undefined || !/^\d+$/.test(shardText) || !target) {
    throw new Error('usage: npm run shards -- move <shard> <postgres url>');
  }
  await withStore(async (store) => {
    await store.seed(seed);
    const started = Date.now();
    const result = await moveShard({ store, shard, target, retireGraceMs, log: (line) => console.log(line) });
    console.log(
      `shard ${shard} is on ${redactUrl(target)} (map version ${result.version}) after ${Date.now() - started} ms`,
    );
  });
}

/** `move --abort <shard>`: gives up the shard's move before its flip; the shard stays where it is. */
export async function abortCommand(shardText: string | undefined): Promise<void> {
  if (shardText === undefined || !/^\d+$/.test(shardText)) {
    throw new Error('usage: npm run shards -- move --abort <shard>');
  }
  await withStore((store) =>
    abortMove({ store, shard: Number(shardText), log: (line) => console.log(line) }),
  );
}

/**
 * `rebalance`: the moves that spread the shards evenly over the live map's databases and `added` ones,
 * printed one a line (`move <shard> <url>`, passwords hidden); `--apply` runs them one at a time.
 */
export async function rebalanceCommand(
  seed: ShardMap,
  added: readonly string[],
  options: { apply: boolean; retireGraceMs: number },
): Promise<void> {
  await withStore(async (store) => {
    await store.seed(seed);
    const live = (await store.get()) as LiveShardMap;
    const plan = planRebalance(live, added);
    const databases = new Set([...live.shards, ...plan.map((m) => m.to)]).size;
    console.log(
      plan.length === 0
        ? `${live.shards.length} logical shards are spread evenly over ${databases} databases: nothing to move`
        : `${plan.length} move(s) spread ${live.shards.length} logical shards evenly over ${databases} databases:`,
    );
    for (const m of plan) console.log(`  move ${m.shard} ${redactUrl(m.to)}    (from ${redactUrl(m.from)})`);
    if (plan.length > 0 && !options.apply) console.log('run again with --apply to make them, one at a time');
    if (options.apply && plan.length > 0) {
      await applyRebalance({ store, plan, retireGraceMs: options.retireGraceMs, log: (l) => console.log(l) });
      console.log('rebalanced');
    }
  });
}

/** The live map as a `ShardMap` (`SHARD_MAP` when none is stored yet), for `status --live` and `migrate --live`. */
export async function liveShardMap(fallback: ShardMap): Promise<ShardMap> {
  const stored = await withStore((store) => store.get());
  return stored ? rangesOf(stored) : fallback;
}
