import { createHash, randomInt } from 'node:crypto';

/**
 * A stable logical shard for a string key (a username, a hashtag): the first 32 bits of the key's
 * MD5 (UTF-8), modulo the shard count. The same key maps to the same shard in every process and
 * version, and the same value is computable in SQL:
 * `('x' || left(md5(key), 8))::bit(32)::bigint % shard_count`.
 * It depends on the shard count, which is why logical shards are fixed for the life of the data.
 */
export function hashToShard(key: string, shardCount: number): number {
  const digest = createHash('md5').update(key, 'utf8').digest();
  return digest.readUInt32BE(0) % shardCount;
}

/**
 * A logical shard for a new account, uniformly at random. Random (rather than round-robin) keeps
 * the spread even however many replicas create accounts and however often they restart.
 */
export function randomShard(shardCount: number): number {
  return randomInt(shardCount);
}
