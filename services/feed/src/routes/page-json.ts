import type { FeedPage } from '../domain/feed.ts';
import type { FeedItem } from '../domain/types.ts';

/**
 * GET /v1/feed's reply as JSON text, written by hand in the order and shape of `feedReplySchema`: only the
 * fields the schema names, integers as integers, `null` where it allows null.
 *
 * Why not the schema's serializer: a page is ~23 KB, mostly parts of a post that do not change between
 * requests (caption, tags, media with six rendition URLs). The reader hands out the same objects for the
 * same cached post (store/summaries.ts, FeedReader's media memo), so their JSON is written once per post
 * and reused, keyed by the media object and checked field by field (identity compares) against the item,
 * so an item that does not share them is simply written in full. Serializing was ~13% of a request.
 */
interface Fragments {
  caption: string;
  hashtags: readonly string[];
  mentions: FeedItem['mentions'];
  altText: string | null;
  createdAt: string;
  /** `"caption":…,"hashtags":…,"mentions":…,"altText":…,"createdAt":…` */
  middle: string;
  /** `{"width":…,"height":…,"blurhash":…,"renditions":[…]}` */
  media: string;
}

const fragments = new WeakMap<FeedItem['media'], Fragments>();

export function feedPageJson(page: FeedPage): string {
  let out = '{"items":[';
  for (let i = 0; i < page.items.length; i++) {
    if (i > 0) out += ',';
    out += itemJson(page.items[i] as FeedItem);
  }
  out += '],"nextCursor":';
  out += page.nextCursor === null ? 'null' : str(page.nextCursor);
  return `${out}}`;
}

function itemJson(item: FeedItem): string {
  const f = fragmentsOf(item);
  const a = item.author;
  return (
    `{"id":${str(item.id)},"author":{"id":${str(a.id)},"username":${str(a.username)},` +
    `"displayName":${str(a.displayName)}},${f.middle},"likeCount":${int(item.likeCount)},` +
    `"commentCount":${int(item.commentCount)},"viewerHasLiked":${item.viewerHasLiked ? 'true' : 'false'},` +
    `"media":${f.media}}`
  );
}

function fragmentsOf(item: FeedItem): Fragments {
  const known = fragments.get(item.media);
  if (
    known !== undefined &&
    known.caption === item.caption &&
    known.hashtags === item.hashtags &&
    known.mentions === item.mentions &&
    known.altText === item.altText &&
    known.createdAt === item.createdAt
  ) {
    return known;
  }
  const made: Fragments = {
    caption: item.caption,
    hashtags: item.hashtags,
    mentions: item.mentions,
    altText: item.altText,
    createdAt: item.createdAt,
    middle:
      `"caption":${str(item.caption)},"hashtags":[${item.hashtags.map(str).join(',')}],` +
      `"mentions":[${item.mentions.map((m) => `{"userId":${str(m.userId)},"username":${str(m.username)}}`).join(',')}],` +
      `"altText":${item.altText === null ? 'null' : str(item.altText)},"createdAt":${str(item.createdAt)}`,
    media: mediaJson(item.media),
  };
  fragments.set(item.media, made);
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
