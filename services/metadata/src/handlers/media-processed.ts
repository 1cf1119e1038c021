import { defineConsumer } from '@instantpost/bus';
import type { Posts } from '../domain/posts.ts';

/**
 * `media.processed` → a post. Idempotent by post id (= media id): a duplicate changes nothing. An event
 * whose owner has no account, or whose media id is not on the owner's shard, is dead-lettered.
 */
export function postsConsumer(posts: Posts) {
  return defineConsumer({
    name: 'metadata-posts',
    description: 'creates posts from processed media',
    subjects: ['media.processed'],
    settings: { concurrency: 2 },
    handlers: {
      'media.processed': async (event) => {
        await posts.publishFromMedia(event.data);
      },
    },
  });
}
