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
  refreshReuseGraceSeconds: int('REFRESH_REUSE_GRACE_SECONDS', {
    default: 30,
    min: 0,
    max: 300,
    doc: 'a just-rotated refresh token presented again this soon (another tab) gets the same new pair instead of revoking the session',
  }),
  loginMaxFailuresPerAddress: int('LOGIN_MAX_FAILURES_PER_ADDRESS', {
    default: 30,
    min: 1,
    max: 100_000,
    doc: 'failed logins per client address per LOGIN_WINDOW_SECONDS, any usernames, before 429',
  }),
  loginFreeFailures: int('LOGIN_FREE_FAILURES', {
    default: 5,
    min: 1,
    max: 1000,
    doc: 'failed logins of one username from one client address before each further try must wait (1 s, doubling)',
  }),
  loginMaxDelaySeconds: int('LOGIN_MAX_DELAY_SECONDS', {
    default: 300,
    min: 1,
    max: 86_400,
    doc: 'the longest wait one client address gets between tries of one username',
  }),
  loginWindowSeconds: int('LOGIN_WINDOW_SECONDS', {
    default: 900,
    min: 1,
    max: 86_400,
    doc: 'window in which failed logins are counted',
  }),
  signupMaxPerAddress: int('SIGNUP_MAX_PER_ADDRESS', {
    default: 10,
    min: 1,
    max: 1_000_000,
    doc: 'sign-ups per client address per SIGNUP_WINDOW_SECONDS',
  }),
  signupWindowSeconds: int('SIGNUP_WINDOW_SECONDS', {
    default: 3600,
    min: 1,
    max: 86_400,
    doc: 'window of the sign-up limit',
  }),
  refreshMaxPerAddress: int('REFRESH_MAX_PER_ADDRESS', {
    default: 60,
    min: 1,
    max: 1_000_000,
    doc: 'token refreshes per client address per minute',
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
