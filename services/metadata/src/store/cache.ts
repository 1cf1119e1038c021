import { createHash } from 'node:crypto';
import { execOrThrow, type Hold, perText, type RawRead, type RedisTracking } from '@instantpost/chassis';
import type { Logger } from '@instantpost/telemetry';
import type { Redis } from 'ioredis';
import { type FailOpen, failOpen } from './fail-open.ts';

/**
 * metadata's Redis: cached JSON of profiles and posts (dropped by the writes that change them), the
 * hash-bucketed post → author map, and the per-username login failure counters. Every key is under
 * the client's REDIS_PREFIX. Redis is never the only copy: all of it can be rebuilt from Postgres.
 */
const TOMBSTONE = '';
/** Longer than a read takes from its database load to its cache fill. */
const TOMBSTONE_MS = 5000;
/** The cached JSON kinds (`<name>:<id>` keys); the writers and the metadata-cache consumer share them. */
export const CACHED = { account: 'account', counts: 'counts', post: 'post', grid: 'grid' } as const;

/** Parsed cached values kept per kind (a few KB each). */
const PARSED_MAX = 20_000;
/** The flag kinds (`<name>:<viewerId>` hashes, a field per post or account). */
export const FLAGS = { liked: 'lk', follows: 'fs' } as const;
/**
 * The field that marks a flag hash complete (`flagCache.wholeSet`): every field that is not the default
 * ('0', 'none') is there (or a tombstone), so an absent field is the default without asking Postgres.
 */
export const COMPLETE_FIELD = '*';
const COMPLETE_MARK = 'c';

/** What the login limiter reads when Redis cannot answer: no wait, no failures. */
const NO_LIMIT: [unknown, unknown][] = [
  [null, -2],
  [null, null],
  [null, -2],
];

export function cacheStore(
  redis: Redis,
  options: {
    ttlSeconds: number;
    postAuthorBuckets: number;
    logger: Logger;
    /** Warm reads kept in process while Redis tracks them (`readAll`); without it every read asks Redis. */
    tracking?: RedisTracking;
  },
) {
  // Redis is never the only copy: when it fails, reads miss, fills and invalidations are skipped (the
  // metadata-cache consumer repeats every invalidation from the event once Redis answers again), and
  // login limits let the attempt through.
  const open = failOpen(options.logger);
  /**
   * A read-through cache of JSON values. A write replaces the value with a short-lived tombstone and a
   * fill only lands where there is no key (NX): a reader that loaded the row before a write committed
   * cannot put its stale copy back, because the writer's tombstone is there (or overwrites it).
   */
  const json = <T>(prefix: string) => {
    // The same text parses to the same object (kept per id while Redis holds that text), so renderers can
    // keep what they wrote for it (keyed by object identity) across requests. Callers never mutate it.
    const parsed = perText(PARSED_MAX, (text) => JSON.parse(text) as T);
    const parse = (id: string, text: string | null): T | undefined =>
      text === null || text === TOMBSTONE ? undefined : parsed(id, text);
    /** Drops cached copies; throws when Redis fails (`invalidate` swallows it, the event consumer retries). */
    const invalidateOrThrow = async (...ids: string[]): Promise<void> => {
      if (ids.length === 0) return;
      const batch = redis.multi();
      for (const id of ids) batch.set(`${prefix}:${id}`, TOMBSTONE, 'PX', TOMBSTONE_MS);
      await execOrThrow(batch, 'the invalidation was not applied');
    };
    return {
      async get(id: string): Promise<T | undefined> {
        return parse(id, await open(redis.get(`${prefix}:${id}`), null, 'cache read'));
      },
      /** The value of a text read by another command (`postRead`): the same object for the same text. */
      parsed(id: string, text: string | null): T | undefined {
        return parse(id, text);
      },
      async getMany(ids: readonly string[]): Promise<(T | undefined)[]> {
        if (ids.length === 0) return [];
        const texts = await open(
          redis.mget(...ids.map((id) => `${prefix}:${id}`)),
          ids.map(() => null),
          'cache read',
        );
        return texts.map((text, i) => parse(ids[i] as string, text));
      },
      async fill(id: string, value: T): Promise<void> {
        await open(
          redis.set(`${prefix}:${id}`, JSON.stringify(value), 'EX', options.ttlSeconds, 'NX'),
          null,
          'cache fill',
        );
      },
      invalidateOrThrow,
      async invalidate(...ids: string[]): Promise<void> {
        await open(invalidateOrThrow(...ids), undefined, 'cache invalidation');
      },
    };
  };

  const readAllOn = (client: Redis) => {
    const r = client as ReadAllRedis;
    if (typeof r.metadataReadAll !== 'function') client.defineCommand('metadataReadAll', { lua: READ_ALL });
    return r;
  };
  const gridScript = async (client: Redis, authorId: string, viewerId: string | undefined, limit: number) => {
    const g = client as GridReadRedis;
    if (typeof g.metadataGridRead !== 'function')
      client.defineCommand('metadataGridRead', { lua: GRID_READ });
    const keys = [`${CACHED.account}:${authorId}`, `${CACHED.grid}:${authorId}`];
    if (viewerId !== undefined) keys.push(`${FLAGS.follows}:${viewerId}`, `${FLAGS.liked}:${viewerId}`);
    const found = await g.metadataGridRead(
      keys.length,
      ...keys,
      redis.options.keyPrefix ?? '',
      limit,
      authorId,
    );
    return found.map((v) => v ?? null);
  };

  /**
   * Everything a warm read needs in ONE round trip: the cached JSON of `kind:id` keys and single fields of
   * flag hashes (`[kind, viewerId, field]`), raw (null when absent, '' or `x:<ms>` for tombstones).
   * With `tracking`, values read before are this process's copies while Redis tracks their keys (no
   * round trip at all; every write — a tombstone, a fill, a flag — and expiry ends a copy). Undefined
   * when Redis fails (the caller reads the long way).
   */
  const readsOf = (
    json: readonly (readonly [string, string])[],
    flags: readonly (readonly [string, string, string])[],
  ): RawRead[] => [
    ...json.map(([kind, id]) => ({ key: `${kind}:${id}` })),
    ...flags.map(([kind, viewer, field]) => ({ key: `${kind}:${viewer}`, field })),
  ];
  /** A hold on `reads` if this process keeps them all with exactly the values `read` answered. */
  const holdMatching = (reads: readonly RawRead[], read: readonly (string | null)[]): Hold | undefined =>
    options.tracking?.tracking ? options.tracking.hold(reads, read) : undefined;

  async function readAll(
    json: readonly (readonly [string, string])[],
    flags: readonly (readonly [string, string, string])[] = [],
  ): Promise<(string | null)[] | undefined> {
    const reads = readsOf(json, flags);
    const fetch = async (client: Redis) =>
      (
        await readAllOn(client).metadataReadAll(
          reads.length,
          ...reads.map((read) => read.key),
          json.length,
          ...flags.map(([, , field]) => field),
        )
      ).map((v) => v ?? null);
    const read = options.tracking ? options.tracking.readThrough(reads, fetch, redis) : fetch(redis);
    return open(read, undefined, 'cache read');
  }

  /** Grid ids parsed once per text (as `readAll` hands the same text out again while it is kept). */
  const idsOf = perText(PARSED_MAX, (text) => JSON.parse(text) as string[]);
  /** What a grid read reads first: the author, the grid's ids and, for a viewer, their follow flag. */
  const gridHead = (authorId: string, viewerId: string | undefined): RawRead[] => {
    const head: RawRead[] = [{ key: `${CACHED.account}:${authorId}` }, { key: `${CACHED.grid}:${authorId}` }];
    if (viewerId !== undefined) head.push({ key: `${FLAGS.follows}:${viewerId}`, field: authorId });
    return head;
  };
  /** Then the page's posts and, for a viewer, their liked flags and complete mark (as `readAll` arguments). */
  const gridPage = (viewerId: string | undefined, ids: readonly string[]) => ({
    json: ids.map((id) => [CACHED.post, id] as const),
    flags:
      viewerId === undefined
        ? []
        : [
            ...ids.map((id) => [FLAGS.liked, viewerId, id] as const),
            [FLAGS.liked, viewerId, COMPLETE_FIELD] as const,
          ],
  });
  /**
   * `gridRead` while Redis tracks this process's reads. The grid script builds its post keys inside Lua,
   * which Redis does not track, so: while the author, the grid ids and the follow flag are held here, the
   * page's posts and liked flags come from `readAll` (held too, or one tracked round trip); otherwise the
   * grid script runs on the tracked connection (one round trip) and the process keeps what it declared.
   */
  async function trackedGridRead(
    tracking: RedisTracking,
    authorId: string,
    viewerId: string | undefined,
    limit: number,
  ): Promise<(string | null)[] | undefined> {
    const head = gridHead(authorId, viewerId);
    const held = tracking.held(head);
    if (held === undefined) {
      const read = tracking.readThrough(
        head,
        (client) => gridScript(client, authorId, viewerId, limit),
        redis,
      );
      return open(read, undefined, 'cache read');
    }
    const [account = null, grid = null, follows = null] = held;
    const found = [account, grid, follows];
    if (grid === null || grid === TOMBSTONE) return found;
    const { json, flags } = gridPage(viewerId, idsOf(authorId, grid).slice(0, limit));
    const page = await readAll(json, flags);
    return page && [...found, ...page];
  }

  return {
    json,
    flags: (prefix: string) => flagCache(redis, prefix, options.ttlSeconds, open),
    postAuthors: postAuthorMap(redis, options.postAuthorBuckets, open),

    readAll,

    /**
     * A grid's first page in ONE round trip: the author's cached account and grid ids, the viewer's follow
     * flag of the author, the first `limit` posts' cached JSON and the viewer's liked flags of them with the
     * liked hash's complete mark — raw, as `readAll` (`[account, ids, follows, ...posts, ...liked,
     * complete]`). Undefined when Redis fails. While Redis tracks this process's reads, the same through
     * `readAll` (kept in process).
     */
    async gridRead(
      authorId: string,
      viewerId: string | undefined,
      limit: number,
    ): Promise<(string | null)[] | undefined> {
      if (options.tracking?.tracking) return trackedGridRead(options.tracking, authorId, viewerId, limit);
      return open(gridScript(redis, authorId, viewerId, limit), undefined, 'cache read');
    },

    /**
     * A hold on what a viewer's `gridRead` of this page read (`read`, its answer), while this process keeps
     * all of it unchanged under Redis tracking: valid until Redis reports a write of one of its keys.
     */
    holdGrid(
      authorId: string,
      viewerId: string,
      pageIds: readonly string[],
      read: readonly (string | null)[],
    ): Hold | undefined {
      const { json, flags } = gridPage(viewerId, pageIds);
      return holdMatching([...gridHead(authorId, viewerId), ...readsOf(json, flags)], read);
    },

    /** The same for what `readAll(json, flags)` answered (`read`). */
    holdRead(
      json: readonly (readonly [string, string])[],
      flags: readonly (readonly [string, string, string])[],
      read: readonly (string | null)[],
    ): Hold | undefined {
      return holdMatching(readsOf(json, flags), read);
    },

    /**
     * How long this client must wait before trying this username again (0: go ahead), or before trying
     * any username when the client's own failures are over the ceiling.
     */
    async loginWait(username: string, client: string, maxClientFailures: number): Promise<number> {
      const read = redis
        .multi()
        .pttl(`loginwait:${client}:${username}`)
        .get(`loginfail:client:${client}`)
        .ttl(`loginfail:client:${client}`)
        .exec();
      const [[, waitMs], [, clientFailures], [, clientTtl]] = (await open(read, NO_LIMIT, 'login limit')) as [
        [unknown, number],
        [unknown, string | null],
        [unknown, number],
      ];
      if (Number(clientFailures ?? 0) >= maxClientFailures) return Math.max(1, clientTtl);
      return waitMs > 0 ? Math.ceil(waitMs / 1000) : 0;
    },

    /**
     * Counts a failed login of `username` from `client`, for the client's ceiling and for the pair: past
     * `freeFailures` the pair waits 1 s, 2 s, 4 s, ... (at most `maxDelaySeconds`) between tries. Other
     * clients are never slowed by it, so nobody can lock an owner out of their account.
     */
    async recordLoginFailure(
      username: string,
      client: string,
      policy: { windowSeconds: number; freeFailures: number; maxDelaySeconds: number },
    ): Promise<void> {
      const pair = `loginfail:${client}:${username}`;
      const clientKey = `loginfail:client:${client}`;
      // NX: a window starts at its first failure and is not extended by later ones.
      const counted = redis
        .multi()
        .incr(pair)
        .expire(pair, policy.windowSeconds, 'NX')
        .incr(clientKey)
        .expire(clientKey, policy.windowSeconds, 'NX')
        .exec();
      const [[, failures]] = (await open(counted, [[null, 0]], 'login limit')) as [[unknown, number]];
      const over = failures - policy.freeFailures;
      if (failures > 0 && over >= 0) {
        const delaySeconds = Math.min(2 ** Math.min(over, 30), policy.maxDelaySeconds);
        await open(
          redis.set(`loginwait:${client}:${username}`, '1', 'EX', delaySeconds),
          null,
          'login limit',
        );
      }
    },

    /** A right password from this client: its tries of this username start over. */
    async clearLoginFailures(username: string, client: string): Promise<void> {
      await open(
        redis.del(`loginfail:${client}:${username}`, `loginwait:${client}:${username}`),
        0,
        'login limit',
      );
    },
  };
}

/**
 * Instagram's trick for a big id → id map: instead of one key per post, ids are grouped into hashes
 * (`pa:<bucket>`) small enough for Redis' compact listpack encoding, where a field and a value that
 * are integers take a few bytes each. Our ids are sparse (time + shard + sequence), so the bucket is
 * a hash of the id modulo the bucket count, not `id / 1000` as with Instagram's dense ids.
 */
export function postAuthorMap(redis: Redis, buckets: number, open: FailOpen = rethrow) {
  const keyOf = (postId: string) => `pa:${bucketOf(postId, buckets)}`;
  return {
    keyOf,
    async get(postId: string): Promise<string | undefined> {
      return (await open(redis.hget(keyOf(postId), postId), null, 'post author map')) ?? undefined;
    },
    async set(postId: string, authorId: string): Promise<void> {
      await open(redis.hset(keyOf(postId), postId, authorId), 0, 'post author map');
    },
    async drop(postId: string): Promise<void> {
      await open(redis.hdel(keyOf(postId), postId), 0, 'post author map');
    },
    /** Like `drop`, but throws when Redis fails (the event consumer retries until it works). */
    async dropOrThrow(postId: string): Promise<void> {
      await redis.hdel(keyOf(postId), postId);
    },
  };
}

// KEYS[1]: the hash; ARGV: when the reader read the hash (ms, before its Postgres read), tombstone ms, ttl seconds, then (field, value, seen) triples. A field
// is filled when it is still what the reader saw before it read Postgres: absent (seen ''), or a tombstone
// older than a write's commit can lag behind it (then the reader's Postgres read came after that commit).
const FILL_FLAGS = `
local readAt, grace, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 4, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local seen = ARGV[i + 2]
  if (cur == false and seen == '') or (cur == seen and seen ~= '' and readAt - tonumber(string.sub(seen, 3)) > grace) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[1], ttl, 'NX')
return 0`;

// KEYS: string keys, then hash keys; ARGV[1]: how many string keys, then one field per hash key. Returns
// their values in order (nil for absent: Lua false).
const READ_ALL = `
local n = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  if i <= n then out[i] = redis.call('GET', KEYS[i]) else out[i] = redis.call('HGET', KEYS[i], ARGV[i - n + 1]) end
end
return out`;

type ReadAllRedis = Redis & {
  metadataReadAll(numKeys: number, ...args: (string | number)[]): Promise<(string | null)[]>;
};

// KEYS: the author's account JSON and grid ids JSON[, the viewer's follow flags and liked flags]; ARGV: the
// client's key prefix, the page size, the author id. The posts' keys are built here from the prefix (one
// Redis instance; with Redis Cluster they would need hash tags). Returns account, grid ids, follow flag,
// then the page's post JSON texts, then (for a viewer) their liked flags and the liked hash's complete mark;
// nil for what is absent.
const GRID_READ = `
local account, grid = redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])
local out = {account, grid, false}
if #KEYS == 4 then out[3] = redis.call('HGET', KEYS[3], ARGV[3]) end
if not grid or grid == '' then return out end
local ids = cjson.decode(grid)
local n = math.min(tonumber(ARGV[2]), #ids)
for i = 1, n do
  out[3 + i] = redis.call('GET', ARGV[1] .. '${CACHED.post}:' .. ids[i])
  if #KEYS == 4 then out[3 + n + i] = redis.call('HGET', KEYS[4], ids[i]) end
end
if #KEYS == 4 then out[4 + 2 * n] = redis.call('HGET', KEYS[4], '${COMPLETE_FIELD}') end
return out`;

type GridReadRedis = Redis & {
  metadataGridRead(numKeys: number, ...args: (string | number)[]): Promise<(string | null)[]>;
};

type FlagRedis = Redis & {
  metadataFillFlags(numKeys: number, ...args: (string | number)[]): Promise<number>;
};

/**
 * Small per-viewer facts that would otherwise cost a Postgres query on every read — has this viewer liked
 * this post, does this viewer follow this account — as one hash per viewer (`<prefix>:<viewerId>`, a field
 * per post or account, short values). A change writes a tombstone `x:<ms>` into the field (from the
 * change's event, on every replica's behalf: Redis is shared), so a reader that loaded Postgres before the
 * change committed cannot put its stale answer back; once the tombstone is older than TOMBSTONE_MS a
 * reader replaces it with what Postgres says. The hash expires `ttlSeconds` after it was created.
 */
function flagCache(redis: Redis, prefix: string, ttlSeconds: number, open: FailOpen) {
  const r = redis as FlagRedis;
  if (typeof r.metadataFillFlags !== 'function')
    redis.defineCommand('metadataFillFlags', { lua: FILL_FLAGS });
  const keyOf = (viewerId: string) => `${prefix}:${viewerId}`;
  /** FILL_FLAGS with (field, value, seen) triples of a read made at `at`. */
  const fillTriples = async (viewerId: string, at: number, triples: readonly string[]) => {
    await open(
      r.metadataFillFlags(1, keyOf(viewerId), at, TOMBSTONE_MS, ttlSeconds, ...triples),
      0,
      'flag cache fill',
    );
  };
  return {
    /** Cached values (undefined: ask Postgres), and what was seen, for `fill`. */
    async get(viewerId: string, fields: readonly string[]): Promise<FlagRead> {
      const at = Date.now();
      if (fields.length === 0) return { fields, values: [], seen: [], at, complete: false, markRead: false };
      const found = await open(
        redis.hmget(keyOf(viewerId), ...fields, COMPLETE_FIELD),
        [...fields, COMPLETE_FIELD].map(() => null),
        'flag cache read',
      );
      return this.readOf(fields, found.slice(0, fields.length), at, found[fields.length] ?? null);
    },
    /**
     * The same as `get` from raw values another round trip brought (readAll, gridRead) that started at
     * `at`: a warm read that finds a flag missing asks Postgres for just that flag, and `fill` keeps its
     * answer under the same rules. `completeRaw`: the hash's COMPLETE_FIELD as read (undefined: not read).
     */
    readOf(
      fields: readonly string[],
      raw: readonly (string | null)[],
      at: number,
      completeRaw?: string | null,
    ): FlagRead {
      return {
        fields,
        values: raw.map(flagValue),
        seen: raw.map((v) => v ?? ''),
        at,
        complete: completeRaw === COMPLETE_MARK,
        markRead: completeRaw !== undefined,
      };
    },
    /**
     * For a read that missed: when the read asked for the complete mark and the hash is not complete, the
     * viewer's whole set from `load` (every field that is not the default — a like: '1'; an edge: its
     * state — or undefined when there are too many), stored under the mark: from then on an absent field
     * is the default. A field changed meanwhile holds a tombstone, which the fill leaves (FILL_FLAGS), so
     * that reader asks Postgres; a change after the fill writes its tombstone over the field. Undefined
     * when the set is not worth loading (complete already, or a read that did not ask for the mark: it would
     * load the set again each time) or too big: then ask field by field.
     */
    async wholeSet<V extends string>(
      viewerId: string,
      read: FlagRead,
      load: () => Promise<ReadonlyMap<string, V> | undefined>,
    ): Promise<ReadonlyMap<string, V> | undefined> {
      if (read.complete || !read.markRead) return undefined;
      const values = await load();
      if (values === undefined) return undefined;
      const args = [...values].flatMap(([field, value]) => [field, value, '']);
      await fillTriples(viewerId, read.at, [...args, COMPLETE_FIELD, COMPLETE_MARK, '']);
      return values;
    },
    /** Stores what Postgres said for the fields that are still as `seen` (see FILL_FLAGS). */
    async fill(viewerId: string, read: FlagRead, values: ReadonlyMap<number, string>): Promise<void> {
      const args: string[] = [];
      for (const [i, value] of values) {
        const seen = read.seen[i] ?? '';
        if (seen === '' || seen.startsWith('x:')) args.push(read.fields[i] as string, value, seen);
      }
      if (args.length > 0) await fillTriples(viewerId, read.at, args);
    },
    /** `changedOrThrow` for the writer right after its commit; a Redis failure is left to the event consumer. */
    async changed(viewerId: string, ...fields: string[]): Promise<void> {
      await open(this.changedOrThrow(viewerId, ...fields), undefined, 'flag cache change');
    },
    /** A write changed these facts (after its commit); throws when Redis fails (the event consumer retries). */
    async changedOrThrow(viewerId: string, ...fields: string[]): Promise<void> {
      await this.changedManyOrThrow(new Map([[viewerId, fields]]));
    },
    /** `changedOrThrow` for many viewers in one MULTI (a batch of events' changes); throws when Redis fails. */
    async changedManyOrThrow(changes: ReadonlyMap<string, Iterable<string>>): Promise<void> {
      const stamp = `x:${Date.now()}`;
      const batch = redis.multi();
      let queued = 0;
      for (const [viewerId, fields] of changes) {
        const pairs = [...fields].flatMap((f) => [f, stamp]);
        if (pairs.length === 0) continue;
        batch.hset(keyOf(viewerId), ...pairs).expire(keyOf(viewerId), ttlSeconds, 'NX');
        queued++;
      }
      if (queued === 0) return; // nothing was sent: a multi goes out on exec
      await execOrThrow(batch, 'the flag changes were not applied');
    },
    /** `changedManyOrThrow` for the writers right after their commits; a Redis failure is left to the event consumer. */
    async changedMany(changes: ReadonlyMap<string, Iterable<string>>): Promise<void> {
      await open(this.changedManyOrThrow(changes), undefined, 'flag cache change');
    },
  };
}

export type FlagCache = ReturnType<typeof flagCache>;

/** One read of a viewer's flags: the values (undefined: ask Postgres) and what `fill` needs. */
export interface FlagRead {
  fields: readonly string[];
  values: (string | undefined)[];
  /** The raw values seen ('' when absent). */
  seen: string[];
  /** When they were read (ms): a tombstone older than TOMBSTONE_MS then may be replaced. */
  at: number;
  /** The hash was marked complete (`wholeSet`): an absent field ('' seen) is the default. */
  complete: boolean;
  /**
   * The read asked for the complete mark: if not complete, loading the whole set pays off (the next such
   * read sees the mark). A read that did not ask would load it again each time: it asks field by field.
   */
  markRead: boolean;
}

/** Whether flag `i` of a read is absent from a complete hash: the default, with no Postgres to ask. */
export const isDefaulted = (read: FlagRead, i: number): boolean => read.complete && read.seen[i] === '';

/** A raw flag as read: undefined when absent or a tombstone (`x:<ms>`: changed lately, ask Postgres). */
export const flagValue = (raw: string | null): string | undefined =>
  raw === null || raw.startsWith('x:') ? undefined : raw;

/** No fallback: errors reach the caller (tools and benchmarks). */
const rethrow: FailOpen = async (operation) => operation;

export function bucketOf(postId: string, buckets: number): number {
  return createHash('md5').update(postId).digest().readUInt32BE(0) % buckets;
}

export type CacheStore = ReturnType<typeof cacheStore>;
