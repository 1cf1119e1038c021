import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';

/** The claims of an InstantPost access token. */
export interface AccessClaims {
  /** The user id (decimal string). */
  sub: string;
  username: string;
  /** The issuer's session id, so a logout can end just the session the token belongs to. */
  sid?: string;
  iss: string;
  iat: number;
  exp: number;
}

/** Why a token was refused, as stable codes. */
export const JwtErrorCodes = {
  Malformed: 'JWT_MALFORMED',
  BadSignature: 'JWT_BAD_SIGNATURE',
  Expired: 'JWT_EXPIRED',
  WrongIssuer: 'JWT_WRONG_ISSUER',
} as const;

export type JwtErrorCode = (typeof JwtErrorCodes)[keyof typeof JwtErrorCodes];

/** A token that is not one of ours, or no longer valid; the auth hooks answer 401 with its message. */
export class JwtError extends Error {
  override readonly name = 'JwtError';
  readonly code: JwtErrorCode;
  constructor(code: JwtErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Unpadded base64url, nothing else: no `=`, no whitespace, no characters Node's decoder would skip. */
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Decodes one token part, refusing every form but the canonical one: Node's decoder ignores padding, junk
 * and the unused low bits of the last character, so several strings would otherwise carry one signature.
 */
function decodePart(part: string, what: string): Buffer {
  const bytes = BASE64URL.test(part) ? Buffer.from(part, 'base64url') : undefined;
  if (!bytes || bytes.toString('base64url') !== part) {
    throw new JwtError(JwtErrorCodes.Malformed, `token ${what} is not canonical base64url`);
  }
  return bytes;
}

const HEADER = Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: 'JWT' })).toString('base64url');
export const TOKEN_ISSUER = 'instantpost';

/** Accepts a PEM key, or the same PEM base64-encoded (handy in environment variables). */
function pemOf(text: string): string {
  const trimmed = text.trim();
  return trimmed.startsWith('-----') ? trimmed : Buffer.from(trimmed, 'base64').toString('utf8');
}

export function loadPublicKey(text: string): KeyObject {
  const key = createPublicKey(pemOf(text));
  if (key.asymmetricKeyType !== 'ed25519') throw new Error('JWT public key must be an Ed25519 key');
  return key;
}

export function loadPrivateKey(text: string): KeyObject {
  const key = createPrivateKey(pemOf(text));
  if (key.asymmetricKeyType !== 'ed25519') throw new Error('JWT private key must be an Ed25519 key');
  return key;
}

/** Signs an Ed25519 (EdDSA) JWT. The issuing side is `metadata`; tests use it too. */
export function signAccessToken(
  privateKey: KeyObject,
  claims: { sub: string; username: string; sid?: string },
  ttlSeconds: number,
  now = Date.now(),
): string {
  const iat = Math.floor(now / 1000);
  const payload: AccessClaims = { ...claims, iss: TOKEN_ISSUER, iat, exp: iat + ttlSeconds };
  const body = `${HEADER}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${body}.${sign(null, Buffer.from(body), privateKey).toString('base64url')}`;
}

/** Verifies signature, issuer and expiry with the public key alone; no call to the issuer. */
export function verifyAccessToken(publicKey: KeyObject, token: string, now = Date.now()): AccessClaims {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError(JwtErrorCodes.Malformed, 'token is not a JWT');
  const [header, payload, signature] = parts as [string, string, string];
  if (header !== HEADER) throw new JwtError(JwtErrorCodes.Malformed, 'unsupported token header');
  const payloadBytes = decodePart(payload, 'payload');
  const ok = verify(null, Buffer.from(`${header}.${payload}`), publicKey, decodePart(signature, 'signature'));
  if (!ok) throw new JwtError(JwtErrorCodes.BadSignature, 'token signature is invalid');
  let claims: Partial<AccessClaims>;
  try {
    claims = JSON.parse(payloadBytes.toString('utf8')) as Partial<AccessClaims>;
  } catch {
    throw new JwtError(JwtErrorCodes.Malformed, 'token payload is not JSON');
  }
  if (
    typeof claims.sub !== 'string' ||
    typeof claims.username !== 'string' ||
    typeof claims.exp !== 'number' ||
    typeof claims.iat !== 'number' ||
    (claims.sid !== undefined && typeof claims.sid !== 'string')
  ) {
    throw new JwtError(JwtErrorCodes.Malformed, 'token claims are incomplete');
  }
  if (claims.iss !== TOKEN_ISSUER)
    throw new JwtError(JwtErrorCodes.WrongIssuer, 'token issuer is not accepted');
  if (claims.exp * 1000 <= now) throw new JwtError(JwtErrorCodes.Expired, 'token has expired');
  return claims as AccessClaims;
}
