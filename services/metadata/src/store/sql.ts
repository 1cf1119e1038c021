import { shardOf } from '@instantpost/ids';
import type { Shards } from '@instantpost/shards';

/**
 * Whether the id's shard exists in the map. Ids from clients can name any of 8192 logical shards; one
 * outside the map cannot exist, so callers treat it as not found.
 */
export function onKnownShard(shards: Shards, id: string): boolean {
  return shardOf(id) < shards.logicalShards.length;
}
