import { enqueue } from '@instantpost/bus';
import type { AnyCloudEvent } from '@instantpost/events';
import { shardOf } from '@instantpost/ids';
import { inTransaction, onShard, type Shards } from '@instantpost/shards';
import { onKnownShard } from './sql.ts';

/** What presenting a refresh secret did. */
export type RefreshOutcome =
  /** The current secret: the session now has the next one. */
  | { kind: 'rotated'; userId: string }
  /** The secret rotated away within the grace window, and the next one is still current (another tab). */
  | { kind: 'repeated'; userId: string }
  /** A secret rotated away earlier: a replay, so the session was revoked. */
  | { kind: 'reused'; userId: string }
  /** No live session has this secret; nothing changed. */
  | { kind: 'invalid' };

/** The event that tells every service a session ended, made by the domain for the user. */
export type RevocationEvent = (userId: string) => AnyCloudEvent;

/**
 * Refresh-token sessions on the user's shard. Only hashes of secrets are stored: the current one on the
 * session, rotated ones in `rotated_secrets`. Every revocation enqueues its `session.revoked` event in the
 * same transaction, so no service misses a logout.
 */
export function sessionStore(shards: Shards) {
  return {
    /** A new session; returns its id (minted on the user's shard). */
    async createSession(userId: string, secretHash: Buffer, ttlDays: number): Promise<string> {
      const [row] = await onShard(
        shards.forId(userId),
        (s) => s.sql<{ id: string }[]>`
          INSERT INTO ${s.table('sessions')} (user_id, secret_hash, expires_at)
          VALUES (${userId}, ${secretHash}, now() + ${ttlDays} * interval '1 day') RETURNING id`,
      );
      if (!row) throw new Error('session insert returned nothing');
      return row.id;
    },

    /**
     * Presents a refresh secret (`presented`, hashed) whose successor is `next` (hashed; derived from the
     * presented secret, so a repeat within the grace window gets the same successor). One transaction with
     * the session row locked: two tabs refreshing at once are ordered, the second sees the first's rotation.
     */
    async refresh(
      sessionId: string,
      presented: Buffer,
      next: Buffer,
      settings: { ttlDays: number; graceSeconds: number },
      revoked: RevocationEvent,
    ): Promise<RefreshOutcome> {
      if (!onKnownShard(shards, sessionId)) return { kind: 'invalid' };
      const shard = shards.forId(sessionId);
      return inTransaction(shard, async (tx): Promise<RefreshOutcome> => {
        const sessions = tx.table('sessions');
        const rotatedSecrets = tx.table('rotated_secrets');
        const [session] = await tx.sql<{ user_id: string; secret_hash: Buffer }[]>`
          SELECT user_id, secret_hash FROM ${sessions}
          WHERE id = ${sessionId} AND revoked_at IS NULL AND expires_at > now() FOR UPDATE`;
        if (!session) return { kind: 'invalid' };
        const userId = session.user_id;
        if (session.secret_hash.equals(presented)) {
          await tx.sql`INSERT INTO ${rotatedSecrets} (secret_hash, session_id) VALUES (${presented}, ${sessionId})
            ON CONFLICT (secret_hash) DO NOTHING`;
          await tx.sql`UPDATE ${sessions} SET secret_hash = ${next}, rotated_at = now(),
              expires_at = now() + ${settings.ttlDays} * interval '1 day'
            WHERE id = ${sessionId}`;
          return { kind: 'rotated', userId };
        }
        const [old] = await tx.sql<{ recent: boolean }[]>`
          SELECT rotated_at > now() - ${settings.graceSeconds} * interval '1 second' AS recent
          FROM ${rotatedSecrets} WHERE secret_hash = ${presented} AND session_id = ${sessionId}`;
        if (!old) return { kind: 'invalid' };
        if (old.recent) {
          // Within the grace window a replay never revokes; it gets the pair only while that is current.
          return session.secret_hash.equals(next) ? { kind: 'repeated', userId } : { kind: 'invalid' };
        }
        await tx.sql`UPDATE ${sessions} SET revoked_at = now() WHERE id = ${sessionId}`;
        await enqueue(tx.sql, tx.schema, revoked(userId));
        return { kind: 'reused', userId };
      });
    },

    /**
     * Revokes one session of the user (with its current secret when given); false when it is not theirs,
     * the secret is wrong or it already ended.
     */
    async revoke(
      userId: string,
      sessionId: string,
      secretHash: Buffer | undefined,
      revoked: RevocationEvent,
    ): Promise<boolean> {
      const shard = shards.forId(userId);
      if (shard.shard !== shardOf(sessionId)) return false;
      return inTransaction(shard, async (tx) => {
        const rows = await tx.sql`
          UPDATE ${tx.table('sessions')} SET revoked_at = now()
          WHERE id = ${sessionId} AND user_id = ${userId} AND revoked_at IS NULL
            ${secretHash === undefined ? tx.sql`` : tx.sql`AND secret_hash = ${secretHash}`}
          RETURNING 1`;
        if (rows.length === 0) return false;
        await enqueue(tx.sql, tx.schema, revoked(userId));
        return true;
      });
    },

    /** Revokes every session of the user; returns how many were live. */
    async revokeAll(userId: string, revoked: RevocationEvent): Promise<number> {
      const shard = shards.forId(userId);
      return inTransaction(shard, async (tx) => {
        const rows = await tx.sql`
          UPDATE ${tx.table('sessions')} SET revoked_at = now()
          WHERE user_id = ${userId} AND revoked_at IS NULL RETURNING 1`;
        await enqueue(tx.sql, tx.schema, revoked(userId));
        return rows.length;
      });
    },
  };
}

export type SessionStore = ReturnType<typeof sessionStore>;
