import { BoundedMap } from '@instantpost/chassis';
import type { AccountRow, AccountStore } from '../store/accounts.ts';
import {
  CACHED,
  type CacheStore,
  COMPLETE_FIELD,
  FLAGS,
  type FlagRead,
  isDefaulted,
} from '../store/cache.ts';
import type { Counts, EdgeState, FollowStore } from '../store/follows.ts';
import type { Account, Profile, UserSummary } from './views.ts';
import { summaryOf } from './views.ts';

/** Usernames → ids remembered in process. */
const USERNAMES_MAX = 50_000;
/** Edges of a viewer cached as a complete set at most (Instagram caps following at 7,500). */
const EDGES_SET_MAX = 7500;

export function accountOf(row: AccountRow): Account {
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    bio: row.bio,
    isPrivate: row.is_private,
  };
}

/**
 * Accounts as the rest of the domain reads them: through the Redis cache (accounts and counts cached
 * apart, since counts change far more often), plus the visibility rule for private accounts.
 */
export function people(deps: { accounts: AccountStore; follows: FollowStore; cache: CacheStore }) {
  const accountCache = deps.cache.json<Account>(CACHED.account);
  const followCache = deps.cache.flags(FLAGS.follows);
  // Usernames never change hands (no rename, no account deletion): an in-process map is never stale.
  const userIds = new BoundedMap<string, string>(USERNAMES_MAX);

  /**
   * The edge a read of the flag cache found, else Postgres's (then cached): on the viewer's first miss all
   * their edges at once, cached as a complete set (an absent edge is then 'none' with no Postgres), unless
   * they follow more than EDGES_SET_MAX accounts; edge by edge after a change (a tombstone).
   */
  const followStateOf = async (viewerId: string, ownerId: string, read: FlagRead): Promise<EdgeState> => {
    const hit = read.values[0];
    if (hit === 'following' || hit === 'requested' || hit === 'none') return hit;
    if (isDefaulted(read, 0)) return 'none';
    const edges = await followCache.wholeSet(viewerId, read, () =>
      deps.follows.edgesOf(viewerId, EDGES_SET_MAX),
    );
    if (edges) return edges.get(ownerId) ?? 'none';
    const state = await deps.follows.stateOf(viewerId, ownerId);
    await followCache.fill(viewerId, read, new Map([[0, state]]));
    return state;
  };

  /** The viewer's follow edge to `ownerId`, from the flag cache (Postgres on a miss, then cached). */
  const followState = async (viewerId: string, ownerId: string): Promise<EdgeState> =>
    followStateOf(viewerId, ownerId, await followCache.get(viewerId, [ownerId]));

  /**
   * The same from the raw flag a warm read brought along, read at `at` (`cache.readAll`), with the hash's
   * complete mark when the read brought it too.
   */
  const followStateFrom = (
    viewerId: string,
    ownerId: string,
    raw: string | null,
    at: number,
    completeRaw?: string | null,
  ) => followStateOf(viewerId, ownerId, followCache.readOf([ownerId], [raw], at, completeRaw));
  const countsCache = deps.cache.json<Counts>(CACHED.counts);

  const idOf = async (username: string): Promise<string | undefined> => {
    let id = userIds.get(username);
    if (id === undefined) {
      id = await deps.accounts.userIdByUsername(username);
      if (id === undefined) return undefined;
      userIds.set(username, id);
    }
    return id;
  };

  const accounts = async (ids: readonly string[]): Promise<Map<string, Account>> => {
    const unique = [...new Set(ids)];
    const cached = await accountCache.getMany(unique);
    const out = new Map<string, Account>();
    const missing: string[] = [];
    unique.forEach((id, i) => {
      const hit = cached[i];
      if (hit) out.set(id, hit);
      else missing.push(id);
    });
    if (missing.length > 0) {
      for (const row of (await deps.accounts.accountsByIds(missing)).values()) {
        const account = accountOf(row);
        out.set(account.id, account);
        await accountCache.fill(account.id, account);
      }
    }
    return out;
  };

  const account = async (id: string): Promise<Account | undefined> => (await accounts([id])).get(id);

  const counts = async (id: string): Promise<Counts> => {
    const hit = await countsCache.get(id);
    if (hit) return hit;
    const fresh = await deps.follows.countsOf(id);
    await countsCache.fill(id, fresh);
    return fresh;
  };

  return {
    account,
    accounts,

    /** Summaries of `ids` in the given order; accounts that do not exist are left out. */
    async summaries(ids: readonly string[]): Promise<UserSummary[]> {
      const found = await accounts(ids);
      return ids.flatMap((id) => {
        const a = found.get(id);
        return a ? [summaryOf(a)] : [];
      });
    },

    async byUsername(username: string): Promise<Account | undefined> {
      const id = await idOf(username);
      return id === undefined ? undefined : account(id);
    },

    /** The id of a username (in process once seen: usernames never change hands). */
    idOf,

    followStateFrom,

    /**
     * A profile and the viewer's follow edge to it in ONE Redis round trip when the account and its counts
     * are cached (an edge this viewer never asked about costs one Postgres read, then is cached too);
     * undefined otherwise (the caller reads the long way, which fills the caches).
     */
    async cachedProfile(
      viewerId: string | undefined,
      id: string,
    ): Promise<{ profile: Profile; state: EdgeState } | undefined> {
      const asks = viewerId !== undefined && viewerId !== id;
      const at = Date.now();
      const read = await deps.cache.readAll(
        [
          [CACHED.account, id],
          [CACHED.counts, id],
        ],
        asks
          ? [
              [FLAGS.follows, viewerId, id],
              [FLAGS.follows, viewerId, COMPLETE_FIELD],
            ]
          : [],
      );
      if (!read) return undefined;
      const found = accountCache.parsed(id, read[0] ?? null);
      const counted = countsCache.parsed(id, read[1] ?? null);
      if (!found || !counted) return undefined;
      const state = asks ? await followStateFrom(viewerId, id, read[2] ?? null, at, read[3] ?? null) : 'none';
      return { profile: { ...found, counts: counted }, state };
    },

    /** The viewer's follow edge to the owner ('none' for anonymous callers and oneself). */
    async viewerState(viewerId: string | undefined, ownerId: string): Promise<EdgeState> {
      if (viewerId === undefined || viewerId === ownerId) return 'none';
      return followState(viewerId, ownerId);
    },

    async profile(id: string): Promise<Profile | undefined> {
      const a = await account(id);
      return a ? { ...a, counts: await counts(id) } : undefined;
    },

    counts,

    /** Call after a write that changed the account's profile fields. */
    async accountChanged(id: string): Promise<void> {
      await accountCache.invalidate(id);
    },

    /** Call after a follow edge changed (its follower's cached counts and state go; the event does it again). */
    async followChanged(followerId: string, followeeId: string): Promise<void> {
      await followCache.changed(followerId, followeeId);
      await countsCache.invalidate(followerId);
    },

    /** Call after a write that changed posts, followers or following of these users. */
    async countsChanged(...ids: string[]): Promise<void> {
      await countsCache.invalidate(...ids);
    },

    /**
     * A private account's posts, followers and following are visible to the owner and to approved
     * followers only; a public account's to everyone.
     */
    async canSee(viewerId: string | undefined, owner: Account): Promise<boolean> {
      if (!owner.isPrivate || viewerId === owner.id) return true;
      if (viewerId === undefined) return false;
      return (await followState(viewerId, owner.id)) === 'following';
    },
  };
}

export type People = ReturnType<typeof people>;
