import { ShardMapError, ShardMapErrorCodes } from './errors.ts';
import { parseShardMap, type ShardMap, type ShardRange } from './shard-map.ts';
import { redactUrl } from './urls.ts';

/**
 * Where a move of one logical shard stands, in order. The mover (`moveShard`) keys every step on it, so
 * a re-run after a crash continues from the last step recorded here.
 * - `copying`: the target receives a copy (logical replication); the source is still the only truth.
 * - `fencing`: writes to the shard on the source fail with `SHARD_MOVING_SQLSTATE` (clients retry).
 * - `caught-up`: the target holds every write and the id sequences; the routing is about to flip.
 * - `retiring`: the map routes the shard to the target; the old copy is being dropped.
 * - `aborting`: given up before the flip (`move --abort`): the copy and the fence are being removed, the
 *   shard stays where it was.
 */
export type MoveStep = 'copying' | 'fencing' | 'caught-up' | 'retiring' | 'aborting';

export const MOVE_STEPS: readonly MoveStep[] = ['copying', 'fencing', 'caught-up', 'retiring', 'aborting'];

/** A move in progress: the shard's data is going from the map's current database to `to`. */
export interface ShardMove {
  readonly from: string;
  readonly to: string;
  readonly step: MoveStep;
  readonly startedAt: string;
}

/**
 * The authoritative shard map: a version that only grows, the database URL of every logical shard
 * (index = shard number) and the moves in progress (keyed by shard number).
 */
export interface LiveShardMap {
  readonly version: number;
  readonly shards: readonly string[];
  readonly moves: Readonly<Record<string, ShardMove>>;
}

/** The JSON form (stored in the bucket, printed by `npm run shards -- map --json`). */
export interface LiveShardMapJson {
  version: number;
  shards: Record<string, string>;
  moves: Record<string, ShardMove>;
}

/** Version 1 of a map built from configuration (`SHARD_MAP`). */
export function liveMapFromConfig(map: ShardMap): LiveShardMap {
  const shards: string[] = [];
  for (const r of map.ranges) for (let s = r.from; s <= r.to; s++) shards[s] = r.url;
  return { version: 1, shards, moves: {} };
}

/** The ranges form, consecutive shards on one database grouped, for `createShards` and `formatShardMap`. */
export function rangesOf(live: Pick<LiveShardMap, 'shards'>): ShardMap {
  const ranges: ShardRange[] = [];
  live.shards.forEach((url, shard) => {
    const last = ranges.at(-1);
    if (last && last.url === url && last.to === shard - 1) ranges[ranges.length - 1] = { ...last, to: shard };
    else ranges.push({ from: shard, to: shard, url });
  });
  return { ranges, shardCount: live.shards.length };
}

/** JSON form; passwords hidden unless `reveal`. */
export function liveMapToJson(live: LiveShardMap, options: { reveal?: boolean } = {}): LiveShardMapJson {
  const url = (u: string) => (options.reveal ? u : redactUrl(u));
  const moves: Record<string, ShardMove> = {};
  for (const [shard, m] of Object.entries(live.moves))
    moves[shard] = { ...m, from: url(m.from), to: url(m.to) };
  return {
    version: live.version,
    shards: Object.fromEntries(live.shards.map((u, shard) => [String(shard), url(u)])),
    moves,
  };
}

/**
 * Reads the stored JSON form back, checked like `SHARD_MAP` text is (every shard from 0 mapped to a
 * postgres URL): a bad document is refused rather than routing queries somewhere wrong.
 */
export function liveMapFromJson(value: unknown): LiveShardMap {
  const doc = value as Partial<LiveShardMapJson> | null;
  if (!doc || typeof doc !== 'object' || !Number.isSafeInteger(doc.version) || !doc.shards) {
    throw new ShardMapError(
      ShardMapErrorCodes.Syntax,
      'stored shard map is not {"version", "shards", "moves"}',
    );
  }
  const entries = Object.entries(doc.shards);
  // parseShardMap checks URLs, gaps and ranges; the stored form is one entry per shard.
  const parsed = parseShardMap(entries.map(([shard, url]) => `${shard}=${url}`).join(';'));
  const moves: Record<string, ShardMove> = {};
  for (const [shard, m] of Object.entries(doc.moves ?? {})) {
    if (!MOVE_STEPS.includes(m.step) || Number(shard) >= parsed.shardCount) {
      throw new ShardMapError(ShardMapErrorCodes.Syntax, `stored shard map: bad move of shard ${shard}`);
    }
    moves[shard] = m;
  }
  return { ...liveMapFromConfig(parsed), version: doc.version as number, moves };
}
