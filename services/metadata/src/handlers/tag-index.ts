import { defineConsumer } from '@instantpost/bus';
import type { Posts } from '../domain/posts.ts';

/** Keeps the hashtag index (on each tag's hashed shard) in step with published and deleted posts. */
export function tagIndexConsumer(posts: Posts) {
  return defineConsumer({
    name: 'metadata-tags',
    description: 'indexes posts under their hashtags',
    subjects: ['post.published', 'post.deleted'],
    settings: { concurrency: 2 },
    handlers: {
      'post.published': async (event) => posts.indexTags(event.data.postId),
      'post.deleted': async (event) => posts.unindexTags(event.data.postId),
    },
  });
}
