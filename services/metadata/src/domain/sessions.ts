import type { KeyObject } from 'node:crypto';
import { signAccessToken } from '@instantpost/http/tokens';
import type { AccountRow, AccountStore } from '../store/accounts.ts';
import type { CacheStore } from '../store/cache.ts';
import type { SessionStore } from '../store/sessions.ts';
import { accountNotFound, invalidRefreshToken, MetadataError, MetadataErrorCodes } from './errors.ts';
import { metadataEvent } from './events.ts';
import { burnPasswordCheck, hashPassword, verifyPassword } from './password.ts';
import { accountOf, type People } from './people.ts';
import {
  formatRefreshToken,
  hashSecret,
  newSecret,
  parseRefreshToken,
  rotationKeyOf,
  successorSecret,
} from './refresh-token.ts';
import type { Profile, UserSummary } from './views.ts';
import { summaryOf } from './views.ts';

export interface SessionSettings {
  privateKey: KeyObject;
  accessTokenTtlSeconds: number;
  refreshTokenTtlDays: number;
  refreshReuseGraceSeconds: number;
  login: {
    windowSeconds: number;
    /** Failed logins per client address per window, any usernames. */
    maxClientFailures: number;
    /** Failures of one username from one client before each try must wait. */
    freeFailures: number;
    maxDelaySeconds: number;
  };
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: UserSummary;
}

const BAD_CREDENTIALS = 'unknown username or wrong password';

/** Sign-up, login, refresh-token rotation and logout. */
export function sessions(deps: {
  accounts: AccountStore;
  sessionStore: SessionStore;
  cache: CacheStore;
  people: People;
  settings: SessionSettings;
}) {
  const { accounts, sessionStore, settings } = deps;
  const rotationKey = rotationKeyOf(settings.privateKey);
  const revocation =
    (reason: 'logout' | 'refresh_reuse' | 'logout_all', sessionId?: string) => (userId: string) =>
      metadataEvent(
        'session.revoked',
        {
          userId,
          ...(sessionId === undefined ? {} : { sessionId }),
          revokedAt: new Date().toISOString(),
          reason,
        },
        userId,
      );
  const tooManyTries = (retryAfterSeconds: number) =>
    new MetadataError(
      'rate_limited',
      MetadataErrorCodes.TooManyLogins,
      'too many failed logins from this client; try again later',
      { retryAfterSeconds },
    );

  const issue = async (user: UserSummary, sessionId: string, secret: string): Promise<TokenPair> => ({
    accessToken: signAccessToken(
      settings.privateKey,
      { sub: user.id, username: user.username, sid: sessionId },
      settings.accessTokenTtlSeconds,
    ),
    refreshToken: formatRefreshToken({ sessionId, secret }),
    expiresIn: settings.accessTokenTtlSeconds,
    user,
  });

  /** The caller's own profile. */
  const me = async (userId: string): Promise<Profile> => {
    const profile = await deps.people.profile(userId);
    if (!profile) throw accountNotFound();
    return profile;
  };

  return {
    /** Creates an account; 409 when the username is taken (also when two sign-ups race for it). */
    async signUp(input: { username: string; password: string; displayName: string }): Promise<UserSummary> {
      const id = await accounts.mintUserId();
      if ((await accounts.claimUsername(input.username, id)) === 'taken') {
        throw new MetadataError(
          'conflict',
          MetadataErrorCodes.UsernameTaken,
          `username "${input.username}" is taken`,
          { field: 'username' },
        );
      }
      let row: AccountRow;
      try {
        row = await accounts.createAccount(
          {
            id,
            username: input.username,
            displayName: input.displayName,
            passwordHash: await hashPassword(input.password),
          },
          metadataEvent(
            'account.created',
            { userId: id, username: input.username, displayName: input.displayName, isPrivate: false },
            id,
          ),
        );
      } catch (err) {
        // No account was created: free the name again.
        await accounts.releaseUsername(input.username, id);
        throw err;
      }
      // The account exists from here on. Confirming is an optimization: an unconfirmed claim still resolves
      // to the account and is never retaken while it exists, so a failure here must not fail the sign-up.
      await accounts.confirmUsername(input.username).catch(() => undefined);
      return summaryOf(accountOf(row));
    },

    /**
     * The same 401 for an unknown username and a wrong password. Failures slow down only the client that
     * makes them (429 with Retry-After): the owner logging in from elsewhere is never stopped.
     */
    async logIn(input: { username: string; password: string; client: string }): Promise<TokenPair> {
      const wait = await deps.cache.loginWait(input.username, input.client, settings.login.maxClientFailures);
      if (wait > 0) throw tooManyTries(wait);
      const id = await accounts.userIdByUsername(input.username);
      const row = id === undefined ? undefined : await accounts.credentialsOf(id);
      let ok = false;
      if (row) ok = await verifyPassword(input.password, row.password_hash);
      else await burnPasswordCheck(input.password);
      if (!row || !ok) {
        await deps.cache.recordLoginFailure(input.username, input.client, settings.login);
        throw new MetadataError('unauthorized', MetadataErrorCodes.BadCredentials, BAD_CREDENTIALS);
      }
      await deps.cache.clearLoginFailures(input.username, input.client);
      const secret = newSecret();
      const sessionId = await sessionStore.createSession(
        row.id,
        hashSecret(secret),
        settings.refreshTokenTtlDays,
      );
      return issue(summaryOf(accountOf(row)), sessionId, secret);
    },

    /**
     * Rotates the refresh token (RFC 9700): the presented secret is replaced by its successor. Presenting
     * it again within the grace window (a second tab) gets the same successor; presenting it later is a
     * replay and revokes the session; a secret the session never had revokes nothing.
     */
    async refresh(refreshToken: string): Promise<TokenPair> {
      const parsed = parseRefreshToken(refreshToken);
      if (!parsed) throw invalidRefreshToken();
      const next = successorSecret(rotationKey, parsed);
      const outcome = await sessionStore.refresh(
        parsed.sessionId,
        hashSecret(parsed.secret),
        hashSecret(next),
        { ttlDays: settings.refreshTokenTtlDays, graceSeconds: settings.refreshReuseGraceSeconds },
        revocation('refresh_reuse', parsed.sessionId),
      );
      if (outcome.kind === 'reused') {
        throw new MetadataError(
          'unauthorized',
          MetadataErrorCodes.RefreshTokenReused,
          'refresh token was already used; the session is revoked',
        );
      }
      if (outcome.kind === 'invalid') throw invalidRefreshToken();
      const account = await deps.people.account(outcome.userId);
      if (!account) throw invalidRefreshToken();
      return issue(summaryOf(account), parsed.sessionId, next);
    },

    /**
     * Ends the given refresh token's session, else the session the access token belongs to, else (a token
     * from before sessions were named in it) every session of the user. Every service hears of it.
     */
    async logOut(userId: string, refreshToken: string | undefined, sessionId?: string): Promise<void> {
      if (refreshToken === undefined) {
        if (sessionId === undefined) await sessionStore.revokeAll(userId, revocation('logout_all'));
        else await sessionStore.revoke(userId, sessionId, undefined, revocation('logout', sessionId));
        return;
      }
      const parsed = parseRefreshToken(refreshToken);
      const ended =
        parsed !== undefined &&
        (await sessionStore.revoke(
          userId,
          parsed.sessionId,
          hashSecret(parsed.secret),
          revocation('logout', parsed.sessionId),
        ));
      if (!ended) throw invalidRefreshToken();
    },

    me,

    async updateMe(
      userId: string,
      changes: { displayName?: string; bio?: string; isPrivate?: boolean },
    ): Promise<Profile> {
      // Turning public approves the pending requests: driven by this account.updated (metadata-go-public).
      const row = await accounts.updateProfile(userId, changes, (changed) =>
        metadataEvent('account.updated', { userId, ...changed }, userId),
      );
      if (!row) throw accountNotFound();
      await deps.people.accountChanged(row.id);
      return me(userId);
    },
  };
}

export type Sessions = ReturnType<typeof sessions>;
