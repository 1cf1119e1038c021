/**
 * Redis key and member layout of feed (every key also carries REDIS_PREFIX, added by the client).
 *
 * Timelines are sorted sets whose members all have score 0 and are `<post id, 19 digits>:<author id>`:
 * with equal scores Redis orders members lexicographically, and zero-padded ids order exactly as the ids
 * do — by creation time, as ids start with 41 bits of milliseconds. A double score cannot hold a 64-bit id
 * exactly (53-bit mantissa), so the id itself is the sort key, which makes the cursor exact.
 *
 * Structures rebuilt from Postgres on a miss hold a sentinel member `0` (lower than every post member):
 * a write that lands on a missing key creates it without the sentinel, so the reader still sees a miss
 * and rebuilds it instead of trusting a partial copy.
 */
export const SENTINEL = '0';

const ID_WIDTH = 19;

export const keys = {
  /** Home timeline of a user. */
  timeline: (userId: string) => `tl:${userId}`,
  /** Recent posts of an author (read-time merge for big accounts). */
  authorPosts: (authorId: string) => `ap:${authorId}`,
  /** Big accounts a user follows (merged at read time). */
  bigFollowees: (userId: string) => `bf:${userId}`,
  /** Every account above FEED_BIG_ACCOUNT_FOLLOWERS. */
  bigAccounts: () => 'big',
  /** Post summary cache: `j` (JSON without counts), `l` likes, `c` comments. */
  post: (postId: string) => `post:${postId}`,
  /** Account cache: `u` username, `n` display name. */
  account: (userId: string) => `acct:${userId}`,
  /** Posts a viewer liked. */
  liked: (userId: string) => `liked:${userId}`,
};

export interface TimelineEntry {
  postId: string;
  authorId: string;
}

export function encodeMember(entry: TimelineEntry): string {
  return `${entry.postId.padStart(ID_WIDTH, '0')}:${entry.authorId}`;
}

export function decodeMember(member: string): TimelineEntry {
  const colon = member.indexOf(':');
  // Strip the zero padding (the id itself is never 0: `0` is the sentinel, not a member with a colon).
  let start = 0;
  while (start < colon - 1 && member.charCodeAt(start) === 48) start++;
  return { postId: member.slice(start, colon), authorId: member.slice(colon + 1) };
}

/** The exclusive upper lex bound for entries older than `postId`. */
export function olderThan(postId: string): string {
  return `(${postId.padStart(ID_WIDTH, '0')}`;
}
