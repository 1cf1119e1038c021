import { keepJson } from '@instantpost/http';
import type { FeedPage } from '../domain/feed.ts';
import type { FeedItem } from '../domain/types.ts';

/**
 * GET /v1/feed's reply as JSON bytes, written by hand in the order and shape of `feedReplySchema`: only the
 * fields the schema names, integers as integers, `null` where it allows null.
 *
 * Why not the schema's serializer: a page is ~23 KB, mostly parts of a post that do not change between
 * requests (caption, tags, media with six rendition URLs). The reader hands out the same objects for the
 * same cached post (store/summaries.ts, FeedReader's media memo), so each item's bytes are written once
 * and reused while the item is the same — keyed by the media object and checked field by field against the
 * item (identity compares for the parsed parts), so an item that does not match is simply written again.
 * Only `viewerHasLiked` is per viewer: an item is its head (everything up to `"viewerHasLiked":`), `true` or
 * `false`, and its tail (`,"media":{…}}`).
 *
 * Why bytes: a string reply is walked twice more after it is built (Fastify's Buffer.byteLength for
 * Content-Length, then UTF-8 encoding into the socket; ~7 % of a page read); the cached items are bytes
 * already, so a page is one Buffer.concat.
 */
interface Written {
  id: string;
  authorId: string;
  username: string;
  displayName: string;
  caption: string;
  hashtags: readonly string[];
  mentions: FeedItem['mentions'];
  altText: string | null;
  createdAt: string;
  likeCount: number;
  commentCount: number;
  /** `{"id":…,"author":{…},"caption":…,…,"commentCount":…,"viewerHasLiked":` */
  head: Buffer;
  /** `,"media":{…}}` */
  tail: Buffer;
}

const written = new WeakMap<FeedItem['media'], Written>();

const OPEN = Buffer.from('{"items":[');
const COMMA = Buffer.from(',');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const LAST_PAGE = Buffer.from('],"nextCursor":null}');

/**
 * Pages already written: FeedReader hands out the same page object again while nothing on it changed (its
 * page memo), and pages are never modified after they are built, so their bytes are reused as they are.
 */
const pages = new WeakMap<FeedPage, Buffer>();

export function feedPageJson(page: FeedPage): Buffer {
  let bytes = pages.get(page);
  if (bytes === undefined) {
    bytes = keepJson(writePage(page));
    pages.set(page, bytes);
  }
  return bytes;
}

function writePage(page: FeedPage): Buffer {
  const parts: Buffer[] = [OPEN];
  for (let i = 0; i < page.items.length; i++) {
    const item = page.items[i] as FeedItem;
    if (i > 0) parts.push(COMMA);
    const w = writtenOf(item);
    parts.push(w.head, item.viewerHasLiked ? TRUE : FALSE, w.tail);
  }
  parts.push(page.nextCursor === null ? LAST_PAGE : Buffer.from(`],"nextCursor":${str(page.nextCursor)}}`));
  return Buffer.concat(parts);
}

function writtenOf(item: FeedItem): Written {
  const known = written.get(item.media);
  const a = item.author;
  if (
    known !== undefined &&
    known.id === item.id &&
    known.authorId === a.id &&
    known.username === a.username &&
    known.displayName === a.displayName &&
    known.caption === item.caption &&
    known.hashtags === item.hashtags &&
    known.mentions === item.mentions &&
    known.altText === item.altText &&
    known.createdAt === item.createdAt &&
    known.likeCount === item.likeCount &&
    known.commentCount === item.commentCount
  ) {
    return known;
  }
  const head =
    `{"id":${str(item.id)},"author":{"id":${str(a.id)},"username":${str(a.username)},` +
    `"displayName":${str(a.displayName)}},"caption":${str(item.caption)},` +
    `"hashtags":[${item.hashtags.map(str).join(',')}],` +
    `"mentions":[${item.mentions.map((m) => `{"userId":${str(m.userId)},"username":${str(m.username)}}`).join(',')}],` +
    `"altText":${item.altText === null ? 'null' : str(item.altText)},"createdAt":${str(item.createdAt)},` +
    `"likeCount":${int(item.likeCount)},"commentCount":${int(item.commentCount)},"viewerHasLiked":`;
  const made: Written = {
    id: item.id,
    authorId: a.id,
    username: a.username,
    displayName: a.displayName,
    caption: item.caption,
    hashtags: item.hashtags,
    mentions: item.mentions,
    altText: item.altText,
    createdAt: item.createdAt,
    likeCount: item.likeCount,
    commentCount: item.commentCount,
    head: Buffer.from(head),
    // The media part survives a count change: only the head is written again then.
    tail: known?.tail ?? Buffer.from(`,"media":${mediaJson(item.media)}}`),
  };
  written.set(item.media, made);
  return made;
}

function mediaJson(m: FeedItem['media']): string {
  const renditions = m.renditions.map(
    (r) =>
      `{"name":${str(r.name)},"width":${int(r.width)},"height":${int(r.height)},` +
      `"format":${str(r.format)},"url":${str(r.url)}}`,
  );
  return `{"width":${int(m.width)},"height":${int(m.height)},"blurhash":${str(m.blurhash)},"renditions":[${renditions.join(',')}]}`;
}

const str = (s: string): string => JSON.stringify(String(s));

/** As the schema's `integer`: a fraction is truncated, and a non-number is an error rather than bad JSON. */
function int(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`feed reply: ${n} is not an integer`);
  return String(Math.trunc(n));
}
