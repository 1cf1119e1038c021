import { bucketedExpiry, mediaPathOf, type RenditionFormat, signedMediaUrl } from './sign.ts';

export interface MediaUrlSignerOptions {
  /** MEDIA_BASE_URL: `<base>/<mediaId>/<name>.<ext>` is served by the gateway's media cache. */
  readonly baseUrl: string;
  /** MEDIA_URL_SIGNING_KEY, shared with the gateway. */
  readonly key: string;
  /** Shortest validity of a URL handed out (MEDIA_URL_TTL_SECONDS). */
  readonly ttlSeconds: number;
  /** URLs handed out within one bucket are identical (MEDIA_URL_BUCKET_SECONDS). */
  readonly bucketSeconds: number;
  /** Milliseconds since the epoch; tests move it. */
  readonly now?: () => number;
}

/** Signs the rendition URLs a service hands out. */
export interface MediaUrlSigner {
  /** The expiry (Unix seconds) every URL signed now carries: one value per time bucket. */
  expires(): number;
  /** The signed URL of one rendition, expiring at `expires` (default: `expires()`). */
  url(mediaId: string, name: string, format: RenditionFormat, expires?: number): string;
  /** The signed URL of `<mediaId>/<name>.<jpg|webp>` (e.g. an S3 key without `media/`); throws for any other path. */
  pathUrl(mediaPath: string, expires?: number): string;
}

export function createMediaUrlSigner(options: MediaUrlSignerOptions): MediaUrlSigner {
  const { key, ttlSeconds, bucketSeconds } = options;
  if (!Number.isInteger(bucketSeconds) || bucketSeconds < 1)
    throw new RangeError('bucketSeconds must be ≥ 1');
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new RangeError('ttlSeconds must be ≥ 1');
  if (key.length === 0) throw new RangeError('the signing key is empty');
  const base = options.baseUrl.replace(/\/+$/, '');
  const now = options.now ?? Date.now;
  const expires = () => bucketedExpiry(now(), ttlSeconds, bucketSeconds);
  return {
    expires,
    url: (mediaId, name, format, at = expires()) =>
      signedMediaUrl(base, key, mediaPathOf(mediaId, name, format), at),
    pathUrl: (mediaPath, at = expires()) => signedMediaUrl(base, key, mediaPath, at),
  };
}
