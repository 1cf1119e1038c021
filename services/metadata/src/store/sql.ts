import { shardOf } from '@instantpost/ids';
import type { ShardSql, Shards } from '@instantpost/shards';
import type postgres from 'postgres';

/** A table of `shard` for use inside a transaction's tagged template. */
export function tableIn(tx: postgres.TransactionSql | postgres.Sql, shard: ShardSql, name: string) {
  return tx(`${shard.schema}.${name}`);
}

/**
 * Whether the id's shard exists in the map. Ids from clients can name any of 8192 logical shards; one
 * outside the map cannot exist, so callers treat it as not found.
 */
export function onKnownShard(shards: Shards, id: string): boolean {
  return shardOf(id) < shards.logicalShards.length;
}

/** Groups ids by the shard holding them (each id carries its shard); ids of unknown shards are left out. */
export function groupByShard(shards: Shards, ids: readonly string[]): Map<ShardSql, string[]> {
  const groups = new Map<number, { shard: ShardSql; ids: string[] }>();
  for (const id of ids) {
    if (!onKnownShard(shards, id)) continue;
    const shard = shards.forId(id);
    const group = groups.get(shard.shard) ?? { shard, ids: [] };
    group.ids.push(id);
    groups.set(shard.shard, group);
  }
  return new Map([...groups.values()].map((g) => [g.shard, g.ids]));
}
