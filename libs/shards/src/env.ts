import { custom, type EnvVar } from '@instantpost/config';
import { DEFAULT_LOCAL_SHARD_MAP, parseShardMap, type ShardMap } from './shard-map.ts';

/**
 * The `SHARD_MAP` variable for a service's config spec. Without `required`, an unset variable means
 * the local default (16 shards on `instantpost_0` and `instantpost_1` at 127.0.0.1:5432).
 */
export function shardMapVar(options: { required?: boolean } = {}): EnvVar<ShardMap> {
  const doc =
    'Logical shards to Postgres databases: `<from>-<to>=<postgres url>` entries separated by `;` ' +
    '(every shard from 0 to the highest mapped exactly once)';
  if (options.required) return custom('SHARD_MAP', parseShardMap, { doc, secret: true });
  return custom('SHARD_MAP', parseShardMap, {
    doc,
    default: parseShardMap(DEFAULT_LOCAL_SHARD_MAP),
    shown: DEFAULT_LOCAL_SHARD_MAP,
  });
}
