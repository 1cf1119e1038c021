import { defineConsumer } from '@instantpost/bus';
import type { Follows } from '../domain/follows.ts';

/**
 * Mirrors follow edges onto the followee's shard. Every `follow.*` event means "this edge changed":
 * the handler copies the current edge from the follower's shard with its version, so duplicates and
 * reordered deliveries converge on the same state.
 */
export function followMirrorConsumer(follows: Follows) {
  const mirror = async (data: { followerId: string; followeeId: string }) =>
    follows.mirror(data.followerId, data.followeeId);
  return defineConsumer({
    name: 'metadata-follow-mirror',
    description: "copies follow edges onto the followee's shard",
    subjects: ['follow.created', 'follow.approved', 'follow.deleted'],
    // Order-free (each delivery copies the edge's current state with its version), so as many at once as a
    // pool has connections (PITFALLS: postgres.js): at 2 it held the follows bench's drain (3.7 s at 240/s).
    settings: { concurrency: 4 },
    handlers: {
      'follow.created': async (event) => {
        await mirror(event.data);
        // The followee may have turned public while this request was on its way (go-public.ts).
        if (event.data.state === 'requested') {
          await follows.approveIfPublic(event.data.followerId, event.data.followeeId);
        }
      },
      'follow.approved': async (event) => mirror(event.data),
      'follow.deleted': async (event) => mirror(event.data),
    },
  });
}
