import { int } from '@instantpost/config';
import { s3Spec } from '@instantpost/storage';

/** upload's own variables, on top of the chassis ones (see README). */
export const configSpec = {
  ...s3Spec(),
  uploadMaxBytes: int('UPLOAD_MAX_BYTES', {
    default: 25 * 1024 * 1024,
    min: 1024,
    max: 5 * 1024 * 1024 * 1024,
    doc: 'largest photo accepted, in bytes (413 above); the gateway body limit must allow it',
  }),
  uploadRateMax: int('UPLOAD_RATE_MAX', {
    default: 30,
    min: 1,
    max: 100_000,
    doc: 'uploads one user may start per UPLOAD_RATE_WINDOW_MS (429 with Retry-After above)',
  }),
  uploadRateWindowMs: int('UPLOAD_RATE_WINDOW_MS', {
    default: 60_000,
    min: 1000,
    max: 86_400_000,
    doc: 'window of the per-user upload rate limit, in milliseconds',
  }),
};
