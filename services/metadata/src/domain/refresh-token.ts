import { createHash, createHmac, hkdfSync, type KeyObject, randomBytes } from 'node:crypto';
import { isId } from '@instantpost/ids';

/**
 * Refresh tokens are opaque to clients: `<sessionId>.<secret>`. The session id routes to the user's
 * shard (it was minted there); only the SHA-256 of the secret is stored.
 */
export interface RefreshToken {
  sessionId: string;
  secret: string;
}

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

export function formatRefreshToken(token: RefreshToken): string {
  return `${token.sessionId}.${token.secret}`;
}

/** The parts of a refresh token, or undefined when it cannot be one of ours. */
export function parseRefreshToken(text: string): RefreshToken | undefined {
  const match = /^([0-9]{1,19})\.([A-Za-z0-9_-]{43})$/.exec(text);
  if (!match || !isId(match[1])) return undefined;
  return { sessionId: match[1] as string, secret: match[2] as string };
}

/**
 * The key that rotation derives successor secrets with, derived from the token-signing key so there is
 * no second secret to configure (HKDF: knowing this key reveals nothing about the signing key).
 */
export function rotationKeyOf(signingKey: KeyObject): Buffer {
  const material = signingKey.export({ format: 'der', type: 'pkcs8' });
  return Buffer.from(hkdfSync('sha256', material, 'instantpost', 'refresh-token rotation v1', 32));
}

/**
 * The secret that replaces `secret` when it is rotated: a function of the presented secret, so two tabs
 * refreshing with the same token get the same successor and both keep a working session. Without the
 * server's key nobody can compute it.
 */
export function successorSecret(key: Buffer, token: RefreshToken): string {
  return createHmac('sha256', key).update(`${token.sessionId}.${token.secret}`).digest('base64url');
}
