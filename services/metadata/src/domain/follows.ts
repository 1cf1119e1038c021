import { DomainError } from '@instantpost/http/errors';
import type { Edge, EdgeState, FollowStore } from '../store/follows.ts';
import { MetadataError, MetadataErrorCodes, userNotFound } from './errors.ts';
import { metadataEvent } from './events.ts';
import type { Page, Paged } from './input.ts';
import { paged } from './input.ts';
import type { People } from './people.ts';
import type { UserSummary } from './views.ts';

const selfFollow = (message: string) =>
  new MetadataError('invalid', MetadataErrorCodes.SelfFollow, message, { field: 'id' });

/** Following, unfollowing, follow requests and the lists of followers and following. */
export function follows(deps: { follows: FollowStore; people: People }) {
  const { people } = deps;

  const existing = async (id: string) => {
    const account = await people.account(id);
    if (!account) throw userNotFound();
    return account;
  };

  const listOf = async (ids: string[], page: Page): Promise<Paged<UserSummary>> => {
    const found = await people.accounts(ids.slice(0, page.limit));
    return paged(
      ids,
      page.limit,
      (id) => id,
      (page) =>
        page.flatMap((id) => {
          const a = found.get(id);
          return a ? [{ id: a.id, username: a.username, displayName: a.displayName }] : [];
        }),
    );
  };

  const visibleOwner = async (viewerId: string | undefined, ownerId: string) => {
    const owner = await existing(ownerId);
    if (!(await people.canSee(viewerId, owner))) throw userNotFound();
    return owner;
  };

  /** The private account `followeeId` approves (or denies) `followerId`'s pending request. */
  const answer = async (followeeId: string, followerId: string, approve: boolean): Promise<void> => {
    const result = await deps.follows.transition(followerId, followeeId, (current, version) => {
      if (current !== 'requested') return undefined;
      return approve
        ? {
            state: 'following',
            event: metadataEvent('follow.approved', { followerId, followeeId, version }, followeeId),
          }
        : {
            state: 'none',
            event: metadataEvent('follow.deleted', { followerId, followeeId, version }, followeeId),
          };
    });
    if (!result.changed && result.state !== (approve ? 'following' : 'none')) {
      throw new MetadataError(
        'not_found',
        MetadataErrorCodes.FollowRequestNotFound,
        'no pending follow request from this user',
      );
    }
    if (result.changed) await people.followChanged(followerId, followeeId);
  };

  return {
    /** `following` at once for a public account, `requested` for a private one; idempotent. */
    async follow(followerId: string, followeeId: string): Promise<{ state: 'following' | 'requested' }> {
      if (followerId === followeeId) throw selfFollow('you cannot follow yourself');
      const followee = await existing(followeeId);
      const result = await deps.follows.transition(followerId, followeeId, (current, version) => {
        if (current !== 'none') return undefined;
        const state = followee.isPrivate ? 'requested' : 'following';
        return {
          state,
          event: metadataEvent('follow.created', { followerId, followeeId, state, version }, followeeId),
        };
      });
      if (result.changed) await people.followChanged(followerId, followeeId);
      return { state: result.state === 'requested' ? 'requested' : 'following' };
    },

    /** Unfollows or withdraws a request; idempotent. */
    async unfollow(followerId: string, followeeId: string): Promise<void> {
      if (followerId === followeeId) throw selfFollow('you cannot unfollow yourself');
      const result = await deps.follows.transition(followerId, followeeId, (current, version) =>
        current === 'none'
          ? undefined
          : {
              state: 'none',
              event: metadataEvent('follow.deleted', { followerId, followeeId, version }, followeeId),
            },
      );
      if (result.changed) await people.followChanged(followerId, followeeId);
    },

    answerRequest: answer,

    /** What the viewer's edge to `ownerId` is: the source of truth on the viewer's shard. */
    async viewerState(viewerId: string | undefined, ownerId: string): Promise<EdgeState> {
      if (viewerId === undefined || viewerId === ownerId) return 'none';
      return deps.follows.stateOf(viewerId, ownerId);
    },

    async followersOf(
      viewerId: string | undefined,
      ownerId: string,
      page: Page,
    ): Promise<Paged<UserSummary>> {
      await visibleOwner(viewerId, ownerId);
      const ids = await deps.follows.followersOf(
        ownerId,
        'following',
        page.after?.toString(),
        page.limit + 1,
      );
      return listOf(ids, page);
    },

    async followingOf(
      viewerId: string | undefined,
      ownerId: string,
      page: Page,
    ): Promise<Paged<UserSummary>> {
      await visibleOwner(viewerId, ownerId);
      const ids = await deps.follows.followingOf(ownerId, page.after?.toString(), page.limit + 1);
      return listOf(ids, page);
    },

    async requestsOf(ownerId: string, page: Page): Promise<Paged<UserSummary>> {
      const ids = await deps.follows.followersOf(
        ownerId,
        'requested',
        page.after?.toString(),
        page.limit + 1,
      );
      return listOf(ids, page);
    },

    /**
     * A private account turned public: its pending requests become follows, as on Instagram (from its
     * `account.updated`, so a crash half-way is resumed by the redelivery; each approval is one transition
     * with its own `follow.approved`, so a repeat approves nothing twice). Requests are read from the
     * mirror; one still on its way there is approved by `approveIfPublic` when it arrives.
     */
    async approveAllRequests(ownerId: string): Promise<number> {
      const owner = await people.account(ownerId);
      if (!owner || owner.isPrivate) return 0; // private again by now: the requests stay requests
      // One pass in id order: the mirror lags behind the approvals, so re-reading from the start would loop.
      let approved = 0;
      let after: string | undefined;
      for (;;) {
        const ids = await deps.follows.followersOf(ownerId, 'requested', after, 100);
        for (const followerId of ids) {
          await answer(ownerId, followerId, true).catch((err: unknown) => {
            if (!(err instanceof DomainError)) throw err; // withdrawn meanwhile: nothing to approve
          });
          approved += 1;
        }
        if (ids.length < 100) return approved;
        after = ids.at(-1);
      }
    },

    /** A request that reached the mirror after its followee went public is approved then. */
    async approveIfPublic(followerId: string, followeeId: string): Promise<void> {
      const followee = await people.account(followeeId);
      if (!followee || followee.isPrivate) return;
      if ((await deps.follows.stateOf(followerId, followeeId)) !== 'requested') return;
      await answer(followeeId, followerId, true).catch((err: unknown) => {
        if (!(err instanceof DomainError)) throw err; // withdrawn meanwhile
      });
    },

    /** Metadata's own mirror consumer: copies edges to their followee's shard (a batch's at once). */
    async mirror(edges: readonly Edge[]): Promise<void> {
      const changed = await deps.follows.mirror(edges);
      if (changed.size > 0) await people.countsChanged(...changed);
    },
  };
}

export type Follows = ReturnType<typeof follows>;
