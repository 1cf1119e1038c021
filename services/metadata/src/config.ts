import { custom, int, url } from '@instantpost/config';
import { loadPrivateKey } from '@instantpost/http';
import { mediaUrlConfigSpec } from '@instantpost/media-urls';

/** metadata's own variables, on top of the chassis ones (see README). */
export const configSpec = {
  jwtPrivateKey: custom('JWT_PRIVATE_KEY', loadPrivateKey, {
    doc: 'Ed25519 private key (PEM, or PEM base64) that access tokens are signed with',
    secret: true,
  }),
  mediaBaseUrl: url('MEDIA_BASE_URL', {
    default: 'http://localhost:8080/media',
    protocols: ['http', 'https'],
    doc: 'public base URL of renditions: `<base>/<mediaId>/<name>.<jpg|webp>?e=…&s=…` (signed, see libs/media-urls)',
  }),
  ...mediaUrlConfigSpec,
  accessTokenTtlSeconds: int('ACCESS_TOKEN_TTL_SECONDS', {
    default: 900,
    min: 10,
    max: 86_400,
    doc: 'lifetime of access tokens',
  }),
  refreshTokenTtlDays: int('REFRESH_TOKEN_TTL_DAYS', {
    default: 30,
    min: 1,
    max: 365,
    doc: 'lifetime of a refresh token (each refresh rotates it and restarts the clock)',
  }),
  loginMaxPerAddress: int('LOGIN_MAX_PER_ADDRESS', {
    default: 30,
    min: 1,
    max: 100_000,
    doc: 'login attempts per client address per LOGIN_WINDOW_SECONDS',
  }),
  loginMaxFailuresPerUsername: int('LOGIN_MAX_FAILURES_PER_USERNAME', {
    default: 10,
    min: 1,
    max: 100_000,
    doc: 'failed logins per username per LOGIN_WINDOW_SECONDS before further attempts get 429',
  }),
  loginWindowSeconds: int('LOGIN_WINDOW_SECONDS', {
    default: 900,
    min: 1,
    max: 86_400,
    doc: 'window of the two login rate limits',
  }),
  postAuthorBuckets: int('POST_AUTHOR_BUCKETS', {
    default: 4096,
    min: 1,
    max: 1_000_000,
    doc: 'Redis hashes of the post→author map; keep posts/buckets under hash-max-listpack-entries (512)',
  }),
  cacheTtlSeconds: int('CACHE_TTL_SECONDS', {
    default: 3600,
    min: 1,
    max: 604_800,
    doc: 'TTL of cached profiles and posts (writes invalidate them sooner)',
  }),
};
