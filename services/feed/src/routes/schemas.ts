import { Page, PostSchema } from '@instantpost/http';

/**
 * The reply of GET /v1/feed: validation-free fast serialization and the OpenAPI document. A page of posts
 * as API.md defines them (`FeedItem` in domain/types.ts); page-json.ts writes the same bytes by hand.
 */
export const feedReplySchema = {
  200: Page(PostSchema, "the caller's home feed, newest first"),
};
