import { defineConsumer } from '@instantpost/bus';
import type { CloudEvent } from '@instantpost/events';
import type { Follows } from '../domain/follows.ts';

type FollowEvent = CloudEvent<'follow.created' | 'follow.approved' | 'follow.deleted'>;

/**
 * Mirrors follow edges onto the followee's shard. Every `follow.*` event means "this edge changed":
 * the handler copies the current edge from the follower's shard with its version, so duplicates and
 * reordered deliveries converge on the same state. A batch copies all its edges together (one read per
 * follower shard, one upsert per followee shard); a failed batch is retried event by event, through the
 * same code with a batch of one.
 */
export function followMirrorConsumer(follows: Follows) {
  const mirror = async (events: readonly FollowEvent[]) => {
    await follows.mirror(events.map((e) => e.data));
    for (const event of events) {
      // The followee may have turned public while this request was on its way (go-public.ts).
      if (event.type === 'follow.created' && event.data.state === 'requested') {
        await follows.approveIfPublic(event.data.followerId, event.data.followeeId);
      }
    }
  };
  const one = async (event: FollowEvent) => mirror([event]);
  return defineConsumer({
    name: 'metadata-follow-mirror',
    description: "copies follow edges onto the followee's shard",
    subjects: ['follow.created', 'follow.approved', 'follow.deleted'],
    // Order-free (each delivery copies the edge's current state with its version), so as many at once as a
    // pool has connections (PITFALLS: postgres.js): at 2 it held the follows bench's drain (3.7 s at 240/s).
    // Under load a batch waits up to 50 ms for more (follows come slower than likes, whose projections
    // linger up to 1 s: libs/bus projectionBatching).
    settings: { concurrency: 4, batchLingerMs: 50 },
    handlers: { 'follow.created': one, 'follow.approved': one, 'follow.deleted': one },
    handleBatch: mirror,
  });
}
