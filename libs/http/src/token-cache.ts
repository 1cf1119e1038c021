import type { KeyObject } from 'node:crypto';
import { type AccessClaims, JwtError, JwtErrorCodes, verifyAccessToken } from './jwt.ts';

/** Default number of verified tokens an app remembers (~300 bytes each). */
export const DEFAULT_TOKEN_CACHE_SIZE = 10_000;

/**
 * Verifies access tokens and remembers the ones that passed, so a client sending the same token on every
 * request pays for one Ed25519 verification (~50 µs) per token instead of per request.
 *
 * Safe because verification is a pure function of (key, token string, time): the cache is keyed by the
 * exact token string (any change to header, payload or signature is another key and is verified in
 * full), belongs to one public key, and a hit is still refused once the token's `exp` has passed.
 * Failures are never stored. It is bounded: when full, the oldest entry is dropped (tokens are
 * short-lived, so recency of insertion is close enough to recency of use).
 */
export class TokenVerifier {
  private readonly verified = new Map<string, AccessClaims>();

  private readonly publicKey: KeyObject;
  /** Largest number of remembered tokens; 0 verifies every time. */
  readonly maxEntries: number;

  constructor(publicKey: KeyObject, maxEntries = DEFAULT_TOKEN_CACHE_SIZE) {
    this.publicKey = publicKey;
    this.maxEntries = maxEntries;
  }

  /** Same contract as `verifyAccessToken`: the claims, or a `JwtError`. */
  verify(token: string, now = Date.now()): AccessClaims {
    const hit = this.verified.get(token);
    if (hit !== undefined) {
      if (hit.exp * 1000 > now) return hit;
      this.verified.delete(token);
      throw new JwtError(JwtErrorCodes.Expired, 'token has expired');
    }
    const claims = Object.freeze(verifyAccessToken(this.publicKey, token, now));
    if (this.maxEntries > 0) {
      if (this.verified.size >= this.maxEntries) {
        const oldest = this.verified.keys().next();
        if (!oldest.done) this.verified.delete(oldest.value);
      }
      this.verified.set(token, claims);
    }
    return claims;
  }

  /** How many verified tokens are remembered (for tests and metrics). */
  get size(): number {
    return this.verified.size;
  }
}
