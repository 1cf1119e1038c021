import type { HydrationCache } from '../store/cache.ts';
import type { LikeBatchStore } from '../store/like-batches.ts';
import type { ProjectionStore } from '../store/projections.ts';
import type { TimelineStore } from '../store/timelines.ts';

/** The feed rules that the domain applies. */
export interface FeedSettings {
  timelineCap: number;
  bigAccountFollowers: number;
  fanoutBatch: number;
}

export interface FeedStores {
  projections: ProjectionStore;
  /** Likes projected in batches (the projector consumer's batch path). */
  likes: LikeBatchStore;
  timelines: TimelineStore;
  cache: HydrationCache;
}

/** A feed item as GET /v1/feed answers it (API.md, "a post"). */
export interface FeedItem {
  id: string;
  author: { id: string; username: string; displayName: string };
  caption: string;
  hashtags: string[];
  mentions: { userId: string; username: string }[];
  altText: string | null;
  createdAt: string;
  likeCount: number;
  commentCount: number;
  viewerHasLiked: boolean;
  media: {
    width: number;
    height: number;
    blurhash: string;
    renditions: { name: string; width: number; height: number; format: string; url: string }[];
  };
}
