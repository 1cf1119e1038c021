import { type IdLike, shardOf } from '@instantpost/ids';
import type { ShardSql, Shards } from './pools.ts';

/** Items whose ids live on one logical shard. */
export interface ShardGroup<T> {
  readonly shard: ShardSql;
  readonly items: T[];
}

/** Items grouped by the shard holding their id (ascending shard), and those whose shard is not in the map. */
export interface ShardGrouping<T> {
  readonly groups: ShardGroup<T>[];
  /**
   * Items whose id names a shard outside the map (a client can send any of 8192): no row of them can
   * exist here, so callers usually treat them as not found.
   */
  readonly outside: T[];
}

/**
 * Groups ids (or items, with `idOf`) by the logical shard their id carries, so a lookup of many ids
 * costs one query per shard. The order of items within a group is kept; nothing is deduplicated.
 * A malformed id throws, as `forId` does.
 */
export function groupByShard<T extends IdLike>(
  shards: Pick<Shards, 'forShard' | 'logicalShards'>,
  ids: Iterable<T>,
): ShardGrouping<T>;
export function groupByShard<T>(
  shards: Pick<Shards, 'forShard' | 'logicalShards'>,
  items: Iterable<T>,
  idOf: (item: T) => IdLike,
): ShardGrouping<T>;
export function groupByShard<T>(
  shards: Pick<Shards, 'forShard' | 'logicalShards'>,
  items: Iterable<T>,
  idOf: (item: T) => IdLike = (item) => item as IdLike,
): ShardGrouping<T> {
  const byShard = new Map<number, T[]>();
  const outside: T[] = [];
  for (const item of items) {
    const shard = shardOf(idOf(item));
    if (shard >= shards.logicalShards.length) {
      outside.push(item);
      continue;
    }
    const group = byShard.get(shard);
    if (group) group.push(item);
    else byShard.set(shard, [item]);
  }
  const groups = [...byShard]
    .sort(([a], [b]) => a - b)
    .map(([shard, grouped]) => ({ shard: shards.forShard(shard), items: grouped }));
  return { groups, outside };
}
