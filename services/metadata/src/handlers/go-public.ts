import { defineConsumer } from '@instantpost/bus';
import type { Follows } from '../domain/follows.ts';

/**
 * An account that turned public approves its pending follow requests. Driven by the `account.updated`
 * its own write committed, so the work survives a crash of the replica that made the change.
 */
export function goPublicConsumer(follows: Follows) {
  return defineConsumer({
    name: 'metadata-go-public',
    description: 'approves the pending follow requests of an account that turned public',
    subjects: ['account.updated'],
    settings: { concurrency: 2, deliverPolicy: 'new' },
    handlers: {
      'account.updated': async (event) => {
        if (event.data.isPrivate === false) await follows.approveAllRequests(event.data.userId);
      },
    },
  });
}
