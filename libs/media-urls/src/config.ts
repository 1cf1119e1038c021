import { custom, int } from '@instantpost/config';

/** Printable, shell- and YAML-safe; long enough to be a real key. Never echoed in an error. */
const KEY = /^[A-Za-z0-9+/=_-]{32,512}$/;

function signingKey(raw: string): string {
  if (!KEY.test(raw)) {
    throw new Error('must be 32-512 characters of A-Z a-z 0-9 + / = _ - (e.g. `openssl rand -hex 32`)');
  }
  return raw;
}

/** The variables of a service that hands out rendition URLs (spread into its config spec). */
export const mediaUrlConfigSpec = {
  mediaUrlSigningKey: custom('MEDIA_URL_SIGNING_KEY', signingKey, {
    doc: 'HMAC-SHA256 key of rendition URLs, used as its UTF-8 bytes; the gateway verifies with the same key',
    secret: true,
  }),
  mediaUrlTtlSeconds: int('MEDIA_URL_TTL_SECONDS', {
    default: 86_400,
    min: 60,
    max: 30 * 86_400,
    doc: 'shortest validity of a rendition URL handed out (a client session)',
  }),
  mediaUrlBucketSeconds: int('MEDIA_URL_BUCKET_SECONDS', {
    default: 3600,
    min: 1,
    max: 86_400,
    doc: 'rendition URLs handed out within one such bucket are identical (cacheable); validity is TTL to TTL + bucket',
  }),
};
