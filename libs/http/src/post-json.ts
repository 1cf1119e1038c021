import type { PostJson, UserSummaryJson } from './contract.ts';

/**
 * A post's JSON written by hand, in the order and shape of `PostSchema` (only the fields it names, integers
 * as integers, `null` where it allows null): the bytes Fastify's schema serializer gives, which tests
 * compare. Hot reads reply with ready bytes (a Buffer with a JSON content type is sent as is: a string would
 * be walked twice more, by Buffer.byteLength for Content-Length and by the UTF-8 encoding into the socket),
 * and everything of a post but the viewer's like is written once and kept by the caller (per cached post
 * object — its counts included — and URL expiry bucket: signed URLs are the same within a bucket), so a warm
 * request only joins three buffers.
 */
export interface PostFragments {
  /** `{"id":…,"author":{…},"caption":…,…,"likeCount":…,"commentCount":…,"viewerHasLiked":` */
  readonly head: Buffer;
  /** `,"media":{…}}` */
  readonly tail: Buffer;
}

export type PostConstant = Omit<PostJson, 'viewerHasLiked'>;

export function postFragments(post: PostConstant): PostFragments {
  return {
    head: Buffer.from(
      `{"id":${jsonString(post.id)},"author":${userSummaryJson(post.author)},${postMiddleJson(post)},` +
        `"likeCount":${jsonInt(post.likeCount)},"commentCount":${jsonInt(post.commentCount)},"viewerHasLiked":`,
    ),
    tail: Buffer.from(`,"media":${mediaJson(post.media)}}`),
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

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');

/** A whole post from its fragments and the viewer's like. */
export function postJson(f: PostFragments, viewerHasLiked: boolean): Buffer {
  return Buffer.concat([f.head, viewerHasLiked ? TRUE : FALSE, f.tail]);
}

const ITEMS = Buffer.from('{"items":[');
const COMMA = Buffer.from(',');

/** `{"items":[…],"nextCursor":…}` from items already written as JSON bytes. */
export function pageJson(items: readonly Buffer[], nextCursor: string | null): Buffer {
  const parts: Buffer[] = [ITEMS];
  items.forEach((item, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(item);
  });
  parts.push(Buffer.from(`],"nextCursor":${nextCursor === null ? 'null' : jsonString(nextCursor)}}`));
  return Buffer.concat(parts);
}

export const jsonString = (s: string): string => JSON.stringify(String(s));

/** As the schema's `integer`: a fraction is truncated, and a non-number is an error rather than bad JSON. */
export function jsonInt(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`JSON reply: ${n} is not an integer`);
  return String(Math.trunc(n));
}

/** The content type of a reply sent as a ready JSON string. */
export const JSON_TYPE = 'application/json; charset=utf-8';
