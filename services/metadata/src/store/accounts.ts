import { enqueue } from '@instantpost/bus';
import type { AnyCloudEvent } from '@instantpost/events';
import { groupByShard, inTransaction, onShard, type Shards } from '@instantpost/shards';

/** An account as stored. */
export interface AccountRow {
  id: string;
  username: string;
  display_name: string;
  bio: string;
  is_private: boolean;
  created_at: Date;
}

interface AccountWithPassword extends AccountRow {
  password_hash: string;
}

/** A sign-up that lost a crash keeps its claim unconfirmed; after this long another sign-up may take it. */
const STALE_CLAIM = '5 minutes';

export type ClaimResult = 'claimed' | 'taken';

/** Accounts and the global username index. */
export function accountStore(shards: Shards) {
  const usernameShard = (username: string) => shards.forShard(shards.shardForKey(username));

  return {
    /** Mints the id of a new account on a random shard (`next_id()` of that shard). */
    async mintUserId(): Promise<string> {
      const [row] = await onShard(
        shards.forShard(shards.shardForNewUser()),
        (s) => s.sql<{ id: string }[]>`SELECT ${s.sql(`${s.schema}.next_id`)}() AS id`,
      );
      if (!row) throw new Error('next_id() returned nothing');
      return row.id;
    },

    /**
     * Claims `username` for `userId` in the username index (on the username's hashed shard); the primary
     * key makes racing sign-ups agree on one winner. A stale unconfirmed claim whose account never got
     * created is taken over.
     */
    async claimUsername(username: string, userId: string): Promise<ClaimResult> {
      const shard = usernameShard(username);
      const table = shard.table('usernames');
      const inserted = await onShard(
        shard,
        (s) => s.sql`
          INSERT INTO ${s.table('usernames')} (username, user_id) VALUES (${username}, ${userId})
          ON CONFLICT (username) DO NOTHING RETURNING 1`,
      );
      if (inserted.length === 1) return 'claimed';
      const [claim] = await shard.sql<{ user_id: string; confirmed: boolean; stale: boolean }[]>`
        SELECT user_id, confirmed, claimed_at < now() - ${STALE_CLAIM}::interval AS stale
        FROM ${table} WHERE username = ${username}`;
      if (!claim || claim.confirmed || !claim.stale) return 'taken';
      const owner = shards.forId(claim.user_id);
      const [exists] = await owner.sql`SELECT 1 FROM ${owner.table('accounts')} WHERE id = ${claim.user_id}`;
      if (exists) {
        await onShard(
          shard,
          (s) => s.sql`UPDATE ${s.table('usernames')} SET confirmed = true WHERE username = ${username}`,
        );
        return 'taken';
      }
      const retaken = await onShard(
        shard,
        (s) => s.sql`
          UPDATE ${s.table('usernames')} SET user_id = ${userId}, claimed_at = now()
          WHERE username = ${username} AND user_id = ${claim.user_id} AND NOT confirmed RETURNING 1`,
      );
      return retaken.length === 1 ? 'claimed' : 'taken';
    },

    async confirmUsername(username: string): Promise<void> {
      await onShard(
        usernameShard(username),
        (s) => s.sql`UPDATE ${s.table('usernames')} SET confirmed = true WHERE username = ${username}`,
      );
    },

    async releaseUsername(username: string, userId: string): Promise<void> {
      await onShard(
        usernameShard(username),
        (s) =>
          s.sql`DELETE FROM ${s.table('usernames')} WHERE username = ${username} AND user_id = ${userId}`,
      );
    },

    /** The account and its `account.created` event, in one transaction on the user's shard. */
    async createAccount(
      account: { id: string; username: string; displayName: string; passwordHash: string },
      event: AnyCloudEvent,
    ): Promise<AccountRow> {
      const shard = shards.forId(account.id);
      return inTransaction(shard, async (tx) => {
        const [row] = await tx.sql<AccountRow[]>`
          INSERT INTO ${tx.table('accounts')} (id, username, display_name, password_hash)
          VALUES (${account.id}, ${account.username}, ${account.displayName}, ${account.passwordHash})
          RETURNING id, username, display_name, bio, is_private, created_at`;
        await enqueue(tx.sql, tx.schema, event);
        if (!row) throw new Error('account insert returned nothing');
        return row;
      });
    },

    /**
     * The id claiming `username`. A claim whose sign-up is still running (or crashed) has no account yet:
     * callers look the account up and treat a missing one as not found.
     */
    async userIdByUsername(username: string): Promise<string | undefined> {
      const shard = usernameShard(username);
      const [row] = await shard.sql<{ user_id: string }[]>`
        SELECT user_id FROM ${shard.table('usernames')} WHERE username = ${username}`;
      return row?.user_id;
    },

    async accountById(id: string): Promise<AccountRow | undefined> {
      const shard = shards.forId(id);
      const [row] = await shard.sql<AccountRow[]>`
        SELECT id, username, display_name, bio, is_private, created_at
        FROM ${shard.table('accounts')} WHERE id = ${id}`;
      return row;
    },

    async credentialsOf(id: string): Promise<AccountWithPassword | undefined> {
      const shard = shards.forId(id);
      const [row] = await shard.sql<AccountWithPassword[]>`
        SELECT id, username, display_name, bio, is_private, created_at, password_hash
        FROM ${shard.table('accounts')} WHERE id = ${id}`;
      return row;
    },

    /** Accounts by id, one query per shard; missing ids are absent from the map. */
    async accountsByIds(ids: readonly string[]): Promise<Map<string, AccountRow>> {
      const out = new Map<string, AccountRow>();
      for (const { shard, items: group } of groupByShard(shards, [...new Set(ids)]).groups) {
        const rows = await shard.sql<AccountRow[]>`
          SELECT id, username, display_name, bio, is_private, created_at
          FROM ${shard.table('accounts')} WHERE id = ANY(${group}::bigint[])`;
        for (const row of rows) out.set(row.id, row);
      }
      return out;
    },

    /**
     * Applies the changed profile fields and enqueues `account.updated` built from what really changed
     * (nothing changed: no event).
     */
    async updateProfile(
      id: string,
      changes: { displayName?: string; bio?: string; isPrivate?: boolean },
      eventFor: (changed: { displayName?: string; bio?: string; isPrivate?: boolean }) => AnyCloudEvent,
    ): Promise<AccountRow | undefined> {
      const shard = shards.forId(id);
      return inTransaction(shard, async (tx) => {
        const table = tx.table('accounts');
        const [before] = await tx.sql<AccountRow[]>`
          SELECT id, username, display_name, bio, is_private, created_at FROM ${table} WHERE id = ${id} FOR UPDATE`;
        if (!before) return undefined;
        const changed: { displayName?: string; bio?: string; isPrivate?: boolean } = {};
        if (changes.displayName !== undefined && changes.displayName !== before.display_name)
          changed.displayName = changes.displayName;
        if (changes.bio !== undefined && changes.bio !== before.bio) changed.bio = changes.bio;
        if (changes.isPrivate !== undefined && changes.isPrivate !== before.is_private)
          changed.isPrivate = changes.isPrivate;
        if (Object.keys(changed).length === 0) return before;
        const [after] = await tx.sql<AccountRow[]>`
          UPDATE ${table} SET
            display_name = ${changed.displayName ?? before.display_name},
            bio = ${changed.bio ?? before.bio},
            is_private = ${changed.isPrivate ?? before.is_private},
            updated_at = now()
          WHERE id = ${id}
          RETURNING id, username, display_name, bio, is_private, created_at`;
        await enqueue(tx.sql, tx.schema, eventFor(changed));
        return after;
      });
    },
  };
}

export type AccountStore = ReturnType<typeof accountStore>;
