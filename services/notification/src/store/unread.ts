import { execOrThrow } from '@instantpost/chassis';
import type { Redis } from 'ioredis';

// The unread count per recipient, cached in Redis (`unread:<userId>`, under the service prefix), and a
// generation per recipient (`unread-gen:<userId>`) that every committed change bumps. Postgres is the truth.
//
// A change never adjusts a cached count: it deletes it and bumps the generation. An increment after the
// commit cannot tell whether a count filled meanwhile already includes its item (a read that counted after
// the commit but filled before the increment would count it twice). A read notes the generation before it
// counts in Postgres, and its fill lands only if no change came in between (one script), so a count taken
// before a commit is never cached after it. A count missed by a crash between commit and drop is dropped
// when the event comes back (domain/unread.ts forgetMany); the TTL bounds the rest.

/** Caches the count only if the generation is still the one read before counting (ARGV[3]; '' for none). */
const FILL_IF_UNCHANGED = `
local generation = redis.call('GET', KEYS[2])
if (generation or '') ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX')
return 1`;

const DROP_AND_BUMP = `
redis.call('DEL', KEYS[1])
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1`;

/** What a read saw before counting: the count if cached, and the generation a fill must still find. */
export interface CachedUnread {
  readonly count: number | undefined;
  readonly generation: string;
}

export function unreadCache(redis: Redis, ttlSeconds: number) {
  const key = (userId: string) => `unread:${userId}`;
  const generationKey = (userId: string) => `unread-gen:${userId}`;
  // Outlives any read between its generation and its fill by far; a count's TTL is the natural choice.
  const generationTtl = String(Math.max(ttlSeconds, 60));
  return {
    /** The cached count (undefined: recount) with the generation to fill under. */
    async get(userId: string): Promise<CachedUnread> {
      const [count = null, generation = null] = await redis.mget(key(userId), generationKey(userId));
      return { count: count === null ? undefined : Number(count), generation: generation ?? '' };
    },
    /** Caches a count just taken from Postgres unless a change committed since `seen` was read. */
    async fill(userId: string, count: number, seen: CachedUnread): Promise<void> {
      await redis.eval(
        FILL_IF_UNCHANGED,
        2,
        key(userId),
        generationKey(userId),
        count,
        ttlSeconds,
        seen.generation,
      );
    },
    /** After a committed change to the recipients' counts: their next read recounts (one pipeline). */
    async drop(userIds: Iterable<string>): Promise<void> {
      const pipeline = redis.pipeline();
      for (const userId of userIds) {
        pipeline.eval(DROP_AND_BUMP, 2, key(userId), generationKey(userId), generationTtl);
      }
      if (pipeline.length === 0) return;
      await execOrThrow(pipeline, 'the unread counts were not dropped');
    },
  };
}

export type UnreadCache = ReturnType<typeof unreadCache>;
