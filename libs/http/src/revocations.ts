import type { AccessClaims } from './jwt.ts';

/** A revocation as the services hear it (`session.revoked`). */
export interface Revocation {
  userId: string;
  /** The session that ended; without it, every session of the user that existed at `revokedAt`. */
  sessionId?: string | undefined;
  /** When it was revoked (ms since the epoch). */
  revokedAtMs: number;
}

/**
 * The sessions that ended while their access tokens may still be unexpired. Access tokens are verified
 * without asking the issuer, so a logout reaches them only through this list: every replica fills it
 * from `session.revoked` events (the chassis does) and the auth hook refuses a token whose session is in
 * it. An entry is needed only until the last token issued before the revocation expires, so it is
 * dropped `retainMs` (the longest access-token lifetime) after the revocation.
 */
export class SessionRevocations {
  private readonly sessions = new Map<string, number>();
  /** userId → revokedAt (ms): tokens issued at or before then are refused. */
  private readonly users = new Map<string, number>();
  private readonly listeners = new Set<(revocation: Revocation) => void>();

  readonly retainMs: number;

  constructor(retainMs: number) {
    this.retainMs = retainMs;
  }

  add(revocation: Revocation, now = Date.now()): void {
    if (revocation.revokedAtMs + this.retainMs <= now) return;
    if (revocation.sessionId !== undefined) {
      this.sessions.set(revocation.sessionId, revocation.revokedAtMs);
    } else {
      const known = this.users.get(revocation.userId) ?? 0;
      this.users.set(revocation.userId, Math.max(known, revocation.revokedAtMs));
    }
    for (const listener of this.listeners) listener(revocation);
  }

  /** Whether the token belongs to a session that has ended. */
  isRevoked(claims: Pick<AccessClaims, 'sub' | 'sid' | 'iat'>): boolean {
    if (claims.sid !== undefined && this.sessions.has(claims.sid)) return true;
    const userRevokedAt = this.users.get(claims.sub);
    // iat has whole seconds: a token issued in the same second as a logout-all is refused too.
    return userRevokedAt !== undefined && claims.iat * 1000 <= userRevokedAt;
  }

  /** Called for every revocation added (notification closes the session's streams). Returns the remover. */
  onRevoked(listener: (revocation: Revocation) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Drops the entries whose tokens have all expired. */
  prune(now = Date.now()): void {
    for (const map of [this.sessions, this.users]) {
      for (const [key, revokedAt] of map) if (revokedAt + this.retainMs <= now) map.delete(key);
    }
  }

  get size(): number {
    return this.sessions.size + this.users.size;
  }
}
