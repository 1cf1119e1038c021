import type { Hold, RedisTracking } from '@instantpost/chassis';
import type { Redis } from 'ioredis';
import type { AccountName, CachedPost, PageLookup } from './cache.ts';
import { decodeMember, encodeMember, keys, SENTINEL, type TimelineEntry } from './keys.ts';
import { SummaryMemo } from './summaries.ts';
import {
  bumpVersions,
  holdVersions,
  LUA_BUMP,
  newVersion,
  type PageVersions,
  versionsUnchanged,
} from './versions.ts';

// KEYS: timelines; ARGV[1]: cap; ARGV[2]: the write's version token; ARGV[3..]: members. Adds the members
// to every timeline that exists (a missing one belongs to an inactive user or was never built: the next
// read rebuilds it) and trims each to `cap` posts, keeping the sentinel at rank 0. Every timeline's version
// moves, present or not: what its reader's page shows changed either way (store/versions.ts).
const ADD_IF_PRESENT = `
${LUA_BUMP('ARGV[2]')}
local cap = tonumber(ARGV[1])
local written = 0
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    for j = 3, #ARGV do redis.call('ZADD', KEYS[i], 0, ARGV[j]) end
    redis.call('ZREMRANGEBYRANK', KEYS[i], 1, -(cap + 1))
    written = written + 1
  end
  bump(KEYS[i])
end
return written`;

// KEYS[1]: timeline, KEYS[2]: big followees, KEYS[3]: the viewer's liked set; ARGV: max bound, limit,
// ttl seconds, key prefix, '1' to return each post's summary JSON (else its length: shipping ~1 KB of JSON
// per post was ~2/3 of the script's time, and a post's summary never changes, so a reader that parsed it
// once keeps it). One round trip for a whole page: the timeline's entries older than the cursor,
// merged with those of every big account the user follows, and what the caches hold to hydrate them.
// Returns { timelineMissing, bigFolloweesMissing, authors whose post list is missing, answer, versions }:
// the answer is '' when something is missing, else one JSON string [members newest first, per member [j,
// l, c, username, displayName, liked], likedKnown] (one bulk string instead of ~7 per post: cheaper to send
// and parse, and a reader compares it with its last answer in one string compare); versions are [version
// key, value]… of every structure the answer was read from (store/versions.ts), read in the same script. The other keys are built here
// from the prefix (one Redis instance; with Redis Cluster this would need hash tags).
const READ_PAGE = `
local maxb, limit, ttl, prefix, withJson = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5] == '1'
local tlMissing = redis.call('ZSCORE', KEYS[1], '0') == false
local bfMissing = redis.call('SISMEMBER', KEYS[2], '0') == 0
if tlMissing or bfMissing then return {tlMissing and 1 or 0, bfMissing and 1 or 0, {}, '', {}} end
local versions = {}
local function version(key)
  local v = key .. ':v'
  versions[#versions + 1] = v
  versions[#versions + 1] = redis.call('GET', v)
end
version(KEYS[1]); version(KEYS[2]); version(KEYS[3])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
local merged = redis.call('ZREVRANGEBYLEX', KEYS[1], maxb, '(0', 'LIMIT', 0, limit)
local missing = {}
local authors = redis.call('SMEMBERS', KEYS[2])
for _, author in ipairs(authors) do
  if author ~= '0' then
    local k = prefix .. 'ap:' .. author
    if redis.call('ZSCORE', k, '0') == false then
      table.insert(missing, author)
    else
      redis.call('EXPIRE', k, ttl)
      version(k)
      for _, m in ipairs(redis.call('ZREVRANGEBYLEX', k, maxb, '(0', 'LIMIT', 0, limit)) do
        table.insert(merged, m)
      end
    end
  end
end
if #authors > 1 then
  table.sort(merged, function(a, b) return a > b end)
  local out, last = {}, nil
  for _, m in ipairs(merged) do
    if m ~= last and #out < limit then table.insert(out, m) end
    last = m
  end
  merged = out
end
if #missing > 0 then return {0, 0, missing, '', {}} end
-- Hydration, most of the script's time (~3 µs a post, the JSON included): one HMGET per post, one per
-- distinct author, and a single SMISMEMBER for the viewer's likes and the liked set's sentinel.
local details, names, ids = {}, {}, {'0'}
for i, m in ipairs(merged) do
  local colon = string.find(m, ':', 1, true)
  local postId = string.sub(m, string.find(m, '[^0]'), colon - 1)
  local authorId = string.sub(m, colon + 1)
  local post
  local postKey = prefix .. 'post:' .. postId
  if withJson then
    post = redis.call('HMGET', postKey, 'j', 'l', 'c')
  else
    -- The summary's length only (0: missing): the reader already holds the summary of every post it saw.
    post = redis.call('HMGET', postKey, 'l', 'c')
    table.insert(post, 1, redis.call('HSTRLEN', postKey, 'j'))
  end
  version(postKey)
  local account = names[authorId]
  if account == nil then
    local accountKey = prefix .. 'acct:' .. authorId
    account = redis.call('HMGET', accountKey, 'u', 'n')
    names[authorId] = account
    version(accountKey)
  end
  local at = (i - 1) * 6
  details[at + 1] = post[1]; details[at + 2] = post[2]; details[at + 3] = post[3]
  details[at + 4] = account[1]; details[at + 5] = account[2]
  ids[i + 1] = postId
end
local liked = redis.call('SMISMEMBER', KEYS[3], unpack(ids))
for i = 1, #merged do details[i * 6] = liked[i + 1] end
-- cjson writes an empty table as {}, and a missing hash field (false here) as false: the reader maps both.
return {0, 0, {}, cjson.encode({merged, details, liked[1]}), versions}`;

type RedisWithScripts = Redis & {
  feedAddIfPresent(numKeys: number, ...args: (string | number)[]): Promise<number>;
  feedReadPage(
    numKeys: number,
    ...args: (string | number)[]
  ): Promise<[number, number, string[], string, (string | null)[]]>;
};

function scripted(redis: Redis): RedisWithScripts {
  const r = redis as RedisWithScripts;
  if (typeof r.feedAddIfPresent !== 'function') {
    redis.defineCommand('feedAddIfPresent', { lua: ADD_IF_PRESENT });
    redis.defineCommand('feedReadPage', { lua: READ_PAGE });
  }
  return r;
}

export interface PageRead {
  timelineMissing: boolean;
  bigFolloweesMissing: boolean;
  /** Big authors whose recent-post list must be rebuilt before the page is complete. */
  missingAuthors: string[];
  /** The page's timeline members, newest first, decoded. */
  entries: TimelineEntry[];
  /** What the caches hold for each member (a miss is `undefined`), read in the same round trip. */
  cached: PageLookup;
  /**
   * The script's answer as it came (members, six details per member, whether the liked set is known, as
   * one JSON string; '' when something was missing): two equal answers for the same bound and limit
   * hydrate to the same page (FeedReader's page memo).
   */
  answer: string;
  /** The answer was the caller's `unchangedIf`: nothing was parsed (`entries` and `cached` are empty). */
  unchanged: boolean;
  /** The versions of everything the answer was read from (none when something was missing). */
  versions: PageVersions;
}

interface PageAnswer {
  members: string[];
  details: (string | number | null)[];
  likedKnown: number;
}

const NO_ANSWER: PageAnswer = { members: [], details: [], likedKnown: 0 };

/** READ_PAGE's JSON answer: cjson's `{}` for an empty list is an empty list, its `false` (a nil) is null. */
function parseAnswer(json: string): PageAnswer {
  if (json === '') return NO_ANSWER;
  const [members, details, likedKnown] = JSON.parse(json) as [unknown, unknown, number];
  return {
    members: Array.isArray(members) ? (members as string[]) : [],
    details: Array.isArray(details)
      ? (details as (string | number | false)[]).map((d) => (d === false ? null : d))
      : [],
    likedKnown,
  };
}

/** Redis timelines: home timelines, authors' recent posts, big-account sets. */
export function timelineStore(
  client: Redis,
  options: { prefix: string; cap: number; ttlSeconds: number; tracker?: RedisTracking | undefined },
) {
  const redis = scripted(client);
  const summaries = new SummaryMemo();
  /** READ_PAGE's [key, value]… pairs, its keys as the client names them (without the prefix it adds). */
  const pageVersions = (pairs: readonly (string | null)[] = []): PageVersions => {
    const versionKeys: string[] = [];
    const values: (string | null)[] = [];
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      versionKeys.push((pairs[i] as string).slice(options.prefix.length));
      values.push(pairs[i + 1] ?? null);
    }
    return { keys: versionKeys, values };
  };
  /** Adds rebuilt entries to an opened sorted set (timeline or author list), marks it complete and trims it. */
  const fillOpened = async (key: string, entries: readonly TimelineEntry[]): Promise<void> => {
    const pipeline = redis.pipeline();
    for (let i = 0; i < entries.length; i += 1000) {
      const chunk = entries.slice(i, i + 1000).flatMap((e) => [0, encodeMember(e)]);
      pipeline.zadd(key, ...chunk);
    }
    pipeline.zadd(key, 0, SENTINEL);
    pipeline.zremrangebyrank(key, 1, -(options.cap + 1));
    pipeline.expire(key, options.ttlSeconds);
    bumpVersions(pipeline, [key]);
    await pipeline.exec();
  };
  return {
    /** Adds entries to the home timelines of `userIds` that exist; returns how many timelines were written. */
    async addToTimelines(userIds: readonly string[], entries: readonly TimelineEntry[]): Promise<number> {
      if (userIds.length === 0 || entries.length === 0) return 0;
      return redis.feedAddIfPresent(
        userIds.length,
        ...userIds.map(keys.timeline),
        options.cap,
        newVersion(),
        ...entries.map(encodeMember),
      );
    },

    /** Adds entries to an author's recent-post list when it exists. */
    async addToAuthorPosts(authorId: string, entries: readonly TimelineEntry[]): Promise<void> {
      if (entries.length === 0) return;
      await redis.feedAddIfPresent(
        1,
        keys.authorPosts(authorId),
        options.cap,
        newVersion(),
        ...entries.map(encodeMember),
      );
    },

    /** Removes entries from the timelines of `userIds` (and nothing else). */
    async removeFromTimelines(userIds: readonly string[], entries: readonly TimelineEntry[]): Promise<void> {
      if (userIds.length === 0 || entries.length === 0) return;
      const members = entries.map(encodeMember);
      const pipeline = redis.pipeline();
      for (const id of userIds) pipeline.zrem(keys.timeline(id), ...members);
      bumpVersions(pipeline, userIds.map(keys.timeline));
      await pipeline.exec();
    },

    async removeFromAuthorPosts(authorId: string, entries: readonly TimelineEntry[]): Promise<void> {
      if (entries.length === 0) return;
      const multi = redis.multi().zrem(keys.authorPosts(authorId), ...entries.map(encodeMember));
      bumpVersions(multi, [keys.authorPosts(authorId)]);
      await multi.exec();
    },

    /**
     * Marks a timeline as being rebuilt: from here on fan-out writes land in it, so a post published
     * while Postgres is read is not lost (its summary was committed before its fan-out looked here).
     */
    async openTimeline(userId: string): Promise<void> {
      const multi = redis
        .multi()
        .zadd(keys.timeline(userId), 0, SENTINEL)
        .expire(keys.timeline(userId), options.ttlSeconds);
      bumpVersions(multi, [keys.timeline(userId)]);
      await multi.exec();
    },

    /** Adds rebuilt entries to an opened timeline and trims it. */
    async fillTimeline(userId: string, entries: readonly TimelineEntry[]): Promise<void> {
      await fillOpened(keys.timeline(userId), entries);
    },

    /** Like `openTimeline`, for an author's recent-post list (kept while followers read it). */
    async openAuthorPosts(authorId: string): Promise<void> {
      const multi = redis
        .multi()
        .zadd(keys.authorPosts(authorId), 0, SENTINEL)
        .expire(keys.authorPosts(authorId), options.ttlSeconds);
      bumpVersions(multi, [keys.authorPosts(authorId)]);
      await multi.exec();
    },

    async fillAuthorPosts(authorId: string, entries: readonly TimelineEntry[]): Promise<void> {
      await fillOpened(keys.authorPosts(authorId), entries);
    },

    async dropTimeline(userId: string): Promise<void> {
      const multi = redis.multi().del(keys.timeline(userId));
      bumpVersions(multi, [keys.timeline(userId)]);
      await multi.exec();
    },

    /**
     * One page: home timeline merged with big followees' recent posts, older than `maxBound`, with cache
     * contents. An answer equal to `unchangedIf` (the caller's last answer for this page) is not parsed:
     * `unchanged` is set and `entries` and `cached` are left empty.
     */
    async readPage(userId: string, maxBound: string, limit: number, unchangedIf?: string): Promise<PageRead> {
      const read = (withJson: boolean) =>
        redis.feedReadPage(
          3,
          keys.timeline(userId),
          keys.bigFollowees(userId),
          keys.liked(userId),
          maxBound,
          limit,
          options.ttlSeconds,
          options.prefix,
          withJson ? '1' : '0',
        );
      let [tl, bf, missing, json, versions] = await read(false);
      if (json !== '' && json === unchangedIf) {
        return {
          timelineMissing: false,
          bigFolloweesMissing: false,
          missingAuthors: [],
          entries: [],
          cached: { posts: [], accounts: new Map(), liked: [] },
          answer: json,
          unchanged: true,
          versions: pageVersions(versions),
        };
      }
      let answer = parseAnswer(json);
      const { members, details } = answer;
      // A summary this process has not parsed yet: the page once more, with the JSON (cold posts only).
      const unknown = members.some((m, i) => details[i * 6] !== 0 && !summaries.has(decodeMember(m).postId));
      if (unknown) {
        [tl, bf, missing, json, versions] = await read(true);
        answer = parseAnswer(json);
      }
      const entries = answer.members.map(decodeMember);
      return {
        timelineMissing: tl === 1,
        bigFolloweesMissing: bf === 1,
        missingAuthors: missing,
        entries,
        cached: parseDetails(entries, answer.details, answer.likedKnown === 1, summaries),
        answer: json,
        unchanged: false,
        versions: pageVersions(versions),
      };
    },

    /**
     * Whether nothing a page was read from has been written since (one MGET, none while Redis tracking
     * holds the versions; store/versions.ts).
     */
    async unchanged(versions: PageVersions): Promise<boolean> {
      return versionsUnchanged(redis, versions, options.tracker);
    },

    /** A hold on versions just found unchanged, to check again with no round trip (store/versions.ts). */
    hold(versions: PageVersions): Hold | undefined {
      return holdVersions(versions, options.tracker);
    },

    // --- big accounts ---

    async bigAccountsKnown(): Promise<boolean> {
      return (await redis.sismember(keys.bigAccounts(), SENTINEL)) === 1;
    },

    async replaceBigAccounts(userIds: readonly string[]): Promise<void> {
      const multi = redis.multi().del(keys.bigAccounts()).sadd(keys.bigAccounts(), SENTINEL);
      if (userIds.length > 0) multi.sadd(keys.bigAccounts(), ...userIds);
      await multi.exec();
    },

    async markBig(userId: string, big: boolean): Promise<void> {
      if (big) await redis.sadd(keys.bigAccounts(), userId);
      else await redis.srem(keys.bigAccounts(), userId);
    },

    /** Which of `userIds` are big accounts. */
    async whichAreBig(userIds: readonly string[]): Promise<string[]> {
      if (userIds.length === 0) return [];
      const flags = await redis.smismember(keys.bigAccounts(), ...userIds);
      return userIds.filter((_, i) => flags[i] === 1);
    },

    async replaceBigFollowees(userId: string, authorIds: readonly string[]): Promise<void> {
      const key = keys.bigFollowees(userId);
      const multi = redis.multi().del(key).sadd(key, SENTINEL);
      if (authorIds.length > 0) multi.sadd(key, ...authorIds);
      multi.expire(key, options.ttlSeconds);
      bumpVersions(multi, [key]);
      await multi.exec();
    },

    /** Adds or removes a big followee for many users (a write to a missing set leaves it incomplete: rebuilt on read). */
    async setBigFollowee(userIds: readonly string[], authorId: string, present: boolean): Promise<void> {
      if (userIds.length === 0) return;
      const pipeline = redis.pipeline();
      for (const id of userIds) {
        if (present)
          pipeline
            .sadd(keys.bigFollowees(id), authorId)
            .expire(keys.bigFollowees(id), options.ttlSeconds, 'NX');
        else pipeline.srem(keys.bigFollowees(id), authorId);
      }
      bumpVersions(pipeline, userIds.map(keys.bigFollowees));
      await pipeline.exec();
    },
  };
}

export type TimelineStore = ReturnType<typeof timelineStore>;

/** Deletes every key under the service's prefix (operator reset; the next reads rebuild from Postgres). */
export async function wipeRedis(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    // SCAN returns full names; the client adds the prefix to DEL's arguments itself.
    if (found.length > 0) deleted += await redis.del(...found.map((k) => k.slice(prefix.length)));
  } while (cursor !== '0');
  return deleted;
}

/** Lua returns nil fields as null and numbers as numbers; six fields per member (see READ_PAGE). */
function parseDetails(
  entries: readonly TimelineEntry[],
  details: readonly (string | number | null)[],
  likedKnown: boolean,
  summaries: SummaryMemo,
): PageLookup {
  const posts: (CachedPost | undefined)[] = [];
  const accounts = new Map<string, AccountName | undefined>();
  const liked: boolean[] = [];
  for (let i = 0, at = 0; i < entries.length; i++, at += 6) {
    const entry = entries[i] as TimelineEntry;
    const j = details[at];
    const u = details[at + 3];
    // A string: the summary's JSON; a positive number: its length, the summary being known here.
    const summary =
      typeof j === 'string'
        ? summaries.parse(entry.postId, j)
        : typeof j === 'number' && j > 0
          ? summaries.get(entry.postId)
          : undefined;
    posts.push(
      summary !== undefined
        ? {
            summary,
            likeCount: Number(details[at + 1] ?? 0),
            commentCount: Number(details[at + 2] ?? 0),
          }
        : undefined,
    );
    accounts.set(
      entry.authorId,
      typeof u === 'string' ? { username: u, displayName: String(details[at + 4] ?? '') } : undefined,
    );
    liked.push(details[at + 5] === 1);
  }
  return { posts, accounts, liked: likedKnown ? liked : undefined };
}
