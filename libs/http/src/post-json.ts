import type { PostJson, UserSummaryJson } from './contract.ts';

/**
 * A post's JSON written by hand, in the order and shape of `PostSchema` (only the fields it names, integers
 * as integers, `null` where it allows null): the bytes Fastify's schema serializer gives, which tests
 * compare. Hot reads reply with a ready string (a string with a JSON content type is sent as is), and the
 * parts of a post that do not change between requests — everything but the counts and the viewer's like —
 * are written once and kept by the caller (per post object and URL expiry bucket: signed URLs are the same
 * within a bucket), so a warm request only joins strings.
 */
export interface PostFragments {
  /** `{"id":…,"author":{…},"caption":…,"hashtags":…,"mentions":…,"altText":…,"createdAt":…,` */
  readonly head: string;
  /** `,"media":{…}}` */
  readonly tail: string;
}

export type PostConstant = Omit<PostJson, 'likeCount' | 'commentCount' | 'viewerHasLiked'>;

export function postFragments(post: PostConstant): PostFragments {
  return {
    head: `{"id":${jsonString(post.id)},"author":${userSummaryJson(post.author)},${postMiddleJson(post)},`,
    tail: `,"media":${mediaJson(post.media)}}`,
  };
}

/** `"caption":…,"hashtags":…,"mentions":…,"altText":…,"createdAt":…` */
export function postMiddleJson(
  post: Pick<PostJson, 'caption' | 'hashtags' | 'mentions' | 'altText' | 'createdAt'>,
): string {
  return (
    `"caption":${jsonString(post.caption)},"hashtags":[${post.hashtags.map(jsonString).join(',')}],` +
    `"mentions":[${post.mentions.map((m) => `{"userId":${jsonString(m.userId)},"username":${jsonString(m.username)}}`).join(',')}],` +
    `"altText":${post.altText === null ? 'null' : jsonString(post.altText)},"createdAt":${jsonString(post.createdAt)}`
  );
}

export function userSummaryJson(u: UserSummaryJson): string {
  return `{"id":${jsonString(u.id)},"username":${jsonString(u.username)},"displayName":${jsonString(u.displayName)}}`;
}

export function mediaJson(m: PostJson['media']): string {
  const renditions = m.renditions.map(
    (r) =>
      `{"name":${jsonString(r.name)},"width":${jsonInt(r.width)},"height":${jsonInt(r.height)},` +
      `"format":${jsonString(r.format)},"url":${jsonString(r.url)}}`,
  );
  return `{"width":${jsonInt(m.width)},"height":${jsonInt(m.height)},"blurhash":${jsonString(m.blurhash)},"renditions":[${renditions.join(',')}]}`;
}

/** A whole post from its fragments and what changes between requests. */
export function postJson(
  f: PostFragments,
  likeCount: number,
  commentCount: number,
  viewerHasLiked: boolean,
): string {
  return `${f.head}"likeCount":${jsonInt(likeCount)},"commentCount":${jsonInt(commentCount)},"viewerHasLiked":${viewerHasLiked ? 'true' : 'false'}${f.tail}`;
}

/** `{"items":[…],"nextCursor":…}` from items already written as JSON. */
export function pageJson(items: readonly string[], nextCursor: string | null): string {
  return `{"items":[${items.join(',')}],"nextCursor":${nextCursor === null ? 'null' : jsonString(nextCursor)}}`;
}

export const jsonString = (s: string): string => JSON.stringify(String(s));

/** As the schema's `integer`: a fraction is truncated, and a non-number is an error rather than bad JSON. */
export function jsonInt(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`JSON reply: ${n} is not an integer`);
  return String(Math.trunc(n));
}

/** The content type of a reply sent as a ready JSON string. */
export const JSON_TYPE = 'application/json; charset=utf-8';
