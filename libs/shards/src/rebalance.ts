import type { LiveShardMap } from './live-map.ts';
import type { ShardMapStore } from './map-store.ts';
import { moveShard } from './move.ts';
import { parseShardMap } from './shard-map.ts';
import { redactUrl } from './urls.ts';

/** One move of a rebalance plan. */
export interface PlannedMove {
  readonly shard: number;
  readonly from: string;
  readonly to: string;
}

/** URLs as the map stores them (the same normalisation `SHARD_MAP` gets). */
const normalise = (url: string) => parseShardMap(`0=${url}`).ranges[0]?.url as string;

/**
 * The fewest moves that leave every database with ⌊n/d⌋ or ⌈n/d⌉ of the n logical shards, over the map's
 * databases plus `added` ones (a database just added holds none yet). Databases already holding more
 * keep the extra shard first, so nothing moves that need not; a database gives up its highest shards,
 * and receivers are filled lowest shard first, so ranges stay as contiguous as they can.
 */
export function planRebalance(
  map: Pick<LiveShardMap, 'shards'>,
  added: readonly string[] = [],
): PlannedMove[] {
  const held = new Map<string, number[]>();
  map.shards.forEach((url, shard) => {
    held.set(url, [...(held.get(url) ?? []), shard]);
  });
  for (const url of added.map(normalise)) if (!held.has(url)) held.set(url, []);
  const n = map.shards.length;
  const d = held.size;
  if (d === 0) return [];
  const base = Math.floor(n / d);
  let extra = n % d;
  // Who may keep ⌈n/d⌉: the fullest databases first (fewest moves), ties in map order.
  const target = new Map<string, number>();
  for (const [url] of [...held].sort((a, b) => b[1].length - a[1].length)) {
    target.set(url, base + (extra > 0 ? 1 : 0));
    if (extra > 0) extra--;
  }
  const surplus: { shard: number; from: string }[] = [];
  for (const [url, shards] of held) {
    const keep = target.get(url) ?? 0;
    for (const shard of shards.slice(keep)) surplus.push({ shard, from: url });
  }
  surplus.sort((a, b) => a.shard - b.shard);
  const plan: PlannedMove[] = [];
  for (const [url, shards] of held) {
    const missing = (target.get(url) ?? 0) - shards.length;
    for (let i = 0; i < missing; i++) {
      const next = surplus.shift();
      if (next) plan.push({ ...next, to: url });
    }
  }
  return plan.sort((a, b) => a.shard - b.shard);
}

/**
 * Runs `plan` one move at a time with `moveShard` (each one live, resumable, recorded in the map); stops
 * at the first failure, which the operator fixes and runs again: moves done are not redone.
 */
export async function applyRebalance(opts: {
  store: ShardMapStore;
  plan: readonly PlannedMove[];
  log?: (line: string) => void;
  retireGraceMs?: number;
}): Promise<void> {
  const log = opts.log ?? (() => {});
  for (const [i, move] of opts.plan.entries()) {
    log(`[${i + 1}/${opts.plan.length}] shard ${move.shard} -> ${redactUrl(move.to)}`);
    await moveShard({
      store: opts.store,
      shard: move.shard,
      target: move.to,
      log,
      retireGraceMs: opts.retireGraceMs,
    });
  }
}
