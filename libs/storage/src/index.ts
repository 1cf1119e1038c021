import { S3Client } from '@aws-sdk/client-s3';
import { bool, type ConfigOf, int, optional, str, url } from '@instantpost/config';

/** The S3 variables of a service that stores objects (upload, media-processing). */
export function s3Spec() {
  return {
    s3Endpoint: optional(
      url('S3_ENDPOINT', { doc: 'S3 endpoint (MinIO, the local emulator); unset means AWS S3 of S3_REGION' }),
    ),
    s3Region: str('S3_REGION', { default: 'us-east-1', doc: 'S3 region' }),
    s3AccessKeyId: optional(
      str('S3_ACCESS_KEY_ID', { doc: 'S3 access key; the AWS default chain when unset' }),
    ),
    s3SecretAccessKey: optional(str('S3_SECRET_ACCESS_KEY', { secret: true, doc: 'S3 secret key' })),
    s3Bucket: str('S3_BUCKET', {
      default: 'instantpost-media',
      pattern: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
      doc: 'bucket of originals/ and media/',
    }),
    s3ConnectTimeoutMs: int('S3_CONNECT_TIMEOUT_MS', {
      default: 3000,
      min: 100,
      max: 60_000,
      doc: 'time to open a connection to S3 before the request fails (and is retried)',
    }),
    s3RequestTimeoutMs: int('S3_REQUEST_TIMEOUT_MS', {
      default: 30_000,
      min: 100,
      max: 600_000,
      doc: 'a request whose socket is silent this long fails (a hung S3 frees its caller)',
    }),
    s3ForcePathStyle: bool('S3_FORCE_PATH_STYLE', {
      default: true,
      doc: 'path-style addressing (MinIO and emulators need it; AWS accepts it)',
    }),
  };
}

export type S3Config = ConfigOf<ReturnType<typeof s3Spec>>;

/**
 * An S3 client that works with AWS S3, MinIO and the local emulator alike: path-style, endpoint from
 * config, and checksums only where the API requires them — SDK ≥ 3.729 otherwise sends CRC32 trailers
 * (aws-chunked bodies) that emulators reject or store wrongly (see PITFALLS.md).
 */
export function createS3Client(config: S3Config): S3Client {
  return new S3Client({
    region: config.s3Region,
    forcePathStyle: config.s3ForcePathStyle,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Deadlines: without them a hung S3 holds its caller (and a consumer's slot) forever.
    requestHandler: {
      connectionTimeout: config.s3ConnectTimeoutMs,
      requestTimeout: config.s3RequestTimeoutMs,
      // Newer handlers only warn when the request timeout passes unless told to fail the request.
      throwOnRequestTimeout: true,
    },
    ...(config.s3Endpoint ? { endpoint: config.s3Endpoint } : {}),
    ...(config.s3AccessKeyId && config.s3SecretAccessKey
      ? { credentials: { accessKeyId: config.s3AccessKeyId, secretAccessKey: config.s3SecretAccessKey } }
      : {}),
  });
}
