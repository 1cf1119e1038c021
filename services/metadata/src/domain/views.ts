import type { Counts } from '../store/follows.ts';
import type { PostRow, StoredMention } from '../store/posts.ts';

/** An account as other people see it (cached). */
export interface Account {
  id: string;
  username: string;
  displayName: string;
  bio: string;
  isPrivate: boolean;
}

export interface UserSummary {
  id: string;
  username: string;
  displayName: string;
}

export interface Profile extends Account {
  counts: Counts;
}

export interface RenditionView {
  name: string;
  width: number;
  height: number;
  format: 'jpeg' | 'webp';
  url: string;
}

export interface PostView {
  id: string;
  author: UserSummary;
  caption: string;
  hashtags: string[];
  mentions: StoredMention[];
  altText: string | null;
  createdAt: string;
  likeCount: number;
  commentCount: number;
  viewerHasLiked: boolean;
  media: { width: number; height: number; blurhash: string; renditions: RenditionView[] };
}

export function summaryOf(account: Account): UserSummary {
  return { id: account.id, username: account.username, displayName: account.displayName };
}

/** A post row as JSON-safe cached data (dates as strings). */
export interface CachedPost extends Omit<PostRow, 'created_at' | 'deleted_at'> {
  created_at: string;
}

export function cachedPostOf(row: PostRow): CachedPost {
  const { deleted_at: _deleted, created_at, ...rest } = row;
  return { ...rest, created_at: new Date(created_at).toISOString() };
}

/** The signed URL of one rendition of a media (`MediaUrlSigner.url`, one expiry for a whole reply). */
export type RenditionUrl = (mediaId: string, name: string, format: 'jpeg' | 'webp') => string;

export function postViewOf(
  post: CachedPost,
  author: UserSummary,
  viewerHasLiked: boolean,
  renditionUrl: RenditionUrl,
): PostView {
  return {
    id: post.id,
    author,
    caption: post.caption,
    hashtags: post.hashtags,
    mentions: post.mentions,
    altText: post.alt_text,
    createdAt: post.created_at,
    likeCount: post.like_count,
    commentCount: post.comment_count,
    viewerHasLiked,
    media: {
      width: post.width,
      height: post.height,
      blurhash: post.blurhash,
      renditions: post.renditions.map((r) => ({
        name: r.name,
        width: r.width,
        height: r.height,
        format: r.format,
        url: renditionUrl(post.id, r.name, r.format),
      })),
    },
  };
}
