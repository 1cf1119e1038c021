import type { JetStreamClient, KV, KvEntry } from 'nats';
import { type LiveShardMap, liveMapFromConfig, liveMapFromJson, liveMapToJson } from './live-map.ts';
import { ShardMoveError, ShardMoveErrorCodes } from './move-errors.ts';
import type { ShardMap } from './shard-map.ts';

const KEY = 'map';

/** `shardmap`, or `T1A2B3C4_shardmap` with a prefix (tests), like libs/bus names streams. */
export function shardMapBucketFor(prefix?: string): string {
  return prefix ? `${prefix.toUpperCase()}_shardmap` : 'shardmap';
}

/** The authoritative shard map in a JetStream KV bucket: read, seed, change (compare-and-set), watch. */
export interface ShardMapStore {
  readonly bucket: string;
  /** The stored map, or `undefined` before it is seeded. */
  get(): Promise<LiveShardMap | undefined>;
  /** The stored map; when there is none, stores `seed` as version 1 first (one writer wins a race). */
  seed(seed: ShardMap): Promise<LiveShardMap>;
  /**
   * Applies `change` to the stored map and stores the result as the next version, retrying when another
   * writer got in first. `change` returning `undefined` stores nothing (and returns the current map).
   */
  update(change: (current: LiveShardMap) => LiveShardMap | undefined): Promise<LiveShardMap>;
  /**
   * Calls `onMap` with the stored map now (when there is one) and with every later version; a stored
   * value that is not a valid map goes to `onError` (and is not applied).
   */
  watch(onMap: (map: LiveShardMap) => void, onError?: (error: unknown) => void): Promise<{ stop(): void }>;
}

const encode = (map: LiveShardMap) =>
  new TextEncoder().encode(JSON.stringify(liveMapToJson(map, { reveal: true })));
const decode = (entry: KvEntry) => liveMapFromJson(JSON.parse(new TextDecoder().decode(entry.value)));

/** Opens (creating when missing) the bucket of the shard map. */
export async function openShardMapStore(
  js: JetStreamClient,
  options: { prefix?: string } = {},
): Promise<ShardMapStore> {
  const bucket = shardMapBucketFor(options.prefix);
  const kv: KV = await js.views.kv(bucket, { history: 10 });

  const read = async (): Promise<{ map: LiveShardMap; revision: number } | undefined> => {
    const entry = await kv.get(KEY);
    if (entry?.operation !== 'PUT' || entry.value.length === 0) return undefined;
    return { map: decode(entry), revision: entry.revision };
  };
  const get = async () => (await read())?.map;

  const seed = async (initial: ShardMap): Promise<LiveShardMap> => {
    for (;;) {
      const found = await get();
      if (found) return found;
      try {
        await kv.create(KEY, encode(liveMapFromConfig(initial)));
      } catch {
        // Another process seeded it first (or the create failed): read again.
      }
    }
  };

  const update = async (change: (current: LiveShardMap) => LiveShardMap | undefined) => {
    for (let attempt = 0; ; attempt++) {
      const current = await read();
      if (!current)
        throw new ShardMoveError(ShardMoveErrorCodes.NoMap, `the shard map bucket ${bucket} holds no map`);
      const next = change(current.map);
      if (!next) return current.map;
      const stored = { ...next, version: current.map.version + 1 };
      try {
        await kv.update(KEY, encode(stored), current.revision);
        return stored;
      } catch (error) {
        // A concurrent writer changed it: apply the change to the newer map.
        if (attempt >= 20) throw error;
      }
    }
  };

  const watch = async (onMap: (map: LiveShardMap) => void, onError?: (error: unknown) => void) => {
    const iterator = await kv.watch({ key: KEY });
    void (async () => {
      for await (const entry of iterator) {
        if (entry.operation !== 'PUT' || entry.value.length === 0) continue;
        try {
          onMap(decode(entry));
        } catch (error) {
          onError?.(error);
        }
      }
    })().catch((error: unknown) => onError?.(error));
    return { stop: () => iterator.stop() };
  };

  return { bucket, get, seed, update, watch };
}
