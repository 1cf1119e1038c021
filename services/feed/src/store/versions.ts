import { randomBytes } from 'node:crypto';
import type { Hold, RawRead, RedisTracking } from '@instantpost/chassis';
import type { ChainableCommander, Redis } from 'ioredis';

/**
 * Write versions of the structures a feed page is made of. Every writer of a timeline, author-post list,
 * big-followee set, post hash, account hash or liked set also sets `<key>:v` to a token never used before,
 * after (or atomically with) its change, whether or not the structure itself is cached — a fan-out to a
 * missing timeline changes the truth the page shows. A page read takes the versions of everything it used
 * in the same script as the data (READ_PAGE), so a reader holding a page and those versions knows the page
 * is still what a full read would build as long as one MGET returns the same versions: ~25 plain GETs in
 * Redis instead of the page script's ~20 hashes walked in Lua (FeedReader's page memo) — and no round trip
 * at all while Redis tracking keeps the versions in process.
 *
 * Tokens are unique (a per-process random prefix and a counter), so a version that comes back to an
 * earlier value is impossible: a key that expired, was deleted or flushed reads as null, which matches
 * only a page that was read when it was null too — and then nothing was written to it since.
 */

/** Longer than any structure's own TTL: a version outliving its data is harmless, the reverse only costs a read. */
export const VERSION_TTL_SECONDS = 8 * 24 * 3600;

export const versionKey = (key: string): string => `${key}:v`;

const processTag = randomBytes(6).toString('base64url');
let sequence = 0;

/** A version token no writer has used before. */
export function newVersion(): string {
  sequence += 1;
  return `${processTag}.${sequence.toString(36)}`;
}

/** Queues the version bumps of `keys` (data keys, unprefixed) behind the writes already in `batch`. */
export function bumpVersions(
  batch: ChainableCommander,
  keys: Iterable<string>,
  version = newVersion(),
): void {
  for (const key of keys) batch.set(versionKey(key), version, 'EX', VERSION_TTL_SECONDS);
}

/** For Lua writers: `bump(key)` sets the version of a (prefixed) data key to ARGV's token. */
export const LUA_BUMP = (tokenArg: string) =>
  `local function bump(key) redis.call('SET', key .. ':v', ${tokenArg}, 'EX', ${VERSION_TTL_SECONDS}) end`;

/** The versions a page was built from: version keys (unprefixed) and what they held. */
export interface PageVersions {
  readonly keys: readonly string[];
  readonly values: readonly (string | null)[];
}

/** The memo's version keys as tracked reads, made once per PageVersions (a check then hashes no new string). */
const readsOfVersions = new WeakMap<PageVersions, RawRead[]>();
function readsOf(versions: PageVersions): RawRead[] {
  let reads = readsOfVersions.get(versions);
  if (!reads) {
    reads = versions.keys.map((key) => ({ key }));
    readsOfVersions.set(versions, reads);
  }
  return reads;
}

/**
 * Whether every version is still what the page was built from: one MGET, or — through Redis tracking —
 * none while this process holds the versions (they are kept until Redis reports a write of one).
 */
export async function versionsUnchanged(
  redis: Redis,
  versions: PageVersions,
  tracker?: RedisTracking,
): Promise<boolean> {
  if (versions.keys.length === 0) return false;
  const mget = (client: Redis) => client.mget(...versions.keys);
  const now = tracker ? await tracker.readThrough(readsOf(versions), mget, redis) : await mget(redis);
  for (let i = 0; i < versions.keys.length; i++) if (now[i] !== versions.values[i]) return false;
  return true;
}

/**
 * A hold on `versions` while the tracker keeps them, unchanged, in process: valid until Redis reports a
 * write of one (checking it asks nothing); undefined when they are not all kept or have moved on.
 */
export function holdVersions(versions: PageVersions, tracker: RedisTracking | undefined): Hold | undefined {
  if (!tracker || versions.keys.length === 0) return undefined;
  return tracker.hold(readsOf(versions), versions.values);
}
