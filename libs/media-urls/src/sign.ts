import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * What is signed: the rendition's path below the media base URL, `<mediaId>/<name>.<jpg|webp>` — the same
 * pattern the gateway's media location accepts (deploy/nginx). Signing the relative path keeps a URL valid
 * whatever host or prefix MEDIA_BASE_URL names.
 */
export const MEDIA_PATH = /^[0-9]{1,20}\/[a-z0-9]{1,16}\.(jpg|webp)$/;

/** `s`: 32 bytes of HMAC-SHA256 in base64url without padding. */
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;
/** `e`: Unix seconds, digits only (no sign, no fraction, no exponent). */
const EXPIRES = /^[0-9]{1,12}$/;

const EXTENSION = { jpeg: 'jpg', webp: 'webp' } as const;
export type RenditionFormat = keyof typeof EXTENSION;

/** `<mediaId>/<name>.<jpg|webp>` of one rendition. */
export function mediaPathOf(mediaId: string, name: string, format: RenditionFormat): string {
  return `${mediaId}/${name}.${EXTENSION[format]}`;
}

/**
 * base64url (no padding) of HMAC-SHA256(key, `<mediaPath>\n<expires>`). The key is used as its UTF-8
 * bytes, exactly as the gateway's njs script (deploy/nginx/media-url.js) uses it.
 */
export function mediaSignature(key: string, mediaPath: string, expires: number): string {
  return createHmac('sha256', key).update(`${mediaPath}\n${expires}`).digest('base64url');
}

/**
 * The expiry of a URL signed at `nowMs`: the end of the current time bucket plus `ttlSeconds`. Every URL of
 * a rendition signed within one bucket is byte-identical (pages and clients can cache them), and each one
 * stays valid for at least `ttlSeconds` and at most `ttlSeconds + bucketSeconds` after it was handed out.
 */
export function bucketedExpiry(nowMs: number, ttlSeconds: number, bucketSeconds: number): number {
  const bucketStart = Math.floor(nowMs / 1000 / bucketSeconds) * bucketSeconds;
  return bucketStart + bucketSeconds + ttlSeconds;
}

/** `<baseUrl>/<mediaPath>?e=<expires>&s=<signature>`. */
export function signedMediaUrl(baseUrl: string, key: string, mediaPath: string, expires: number): string {
  if (!MEDIA_PATH.test(mediaPath)) throw new TypeError(`not a rendition path: ${mediaPath}`);
  const base = baseUrl.replace(/\/+$/, '');
  return `${base}/${mediaPath}?e=${expires}&s=${mediaSignature(key, mediaPath, expires)}`;
}

export type VerifyFailure = 'not-media' | 'unsigned' | 'malformed' | 'expired' | 'bad-signature';

export type VerifyResult =
  | { readonly valid: true; readonly mediaPath: string; readonly expires: number }
  | { readonly valid: false; readonly reason: VerifyFailure };

/**
 * Checks a rendition URL as the gateway does (for tests and tools): the last two path segments are the
 * media path, `e` and `s` in their strict forms, not expired at `nowMs`, and the signature matches.
 */
export function verifyMediaUrl(url: string, key: string, nowMs = Date.now()): VerifyResult {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { valid: false, reason: 'not-media' };
  }
  const mediaPath = parsed.pathname.split('/').slice(-2).join('/');
  if (!MEDIA_PATH.test(mediaPath)) return { valid: false, reason: 'not-media' };
  const e = parsed.searchParams.get('e');
  const s = parsed.searchParams.get('s');
  if (e === null || s === null) return { valid: false, reason: 'unsigned' };
  if (!EXPIRES.test(e) || !SIGNATURE.test(s)) return { valid: false, reason: 'malformed' };
  const expires = Number(e);
  if (expires * 1000 <= nowMs) return { valid: false, reason: 'expired' };
  const expected = Buffer.from(mediaSignature(key, mediaPath, expires));
  if (!timingSafeEqual(expected, Buffer.from(s))) return { valid: false, reason: 'bad-signature' };
  return { valid: true, mediaPath, expires };
}
