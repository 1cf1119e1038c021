import { DomainError } from '@instantpost/http/errors';

/** Failures of processing one original, as stable codes. */
export const MediaErrorCodes = {
  /** The file is not an image we accept, cannot be decoded, or is unsafe to decode: reject, never retry. */
  Unsafe: 'MEDIA_UNSAFE',
  /** The original is not in S3 (yet, or any more). */
  OriginalMissing: 'MEDIA_ORIGINAL_MISSING',
  /** No record of the media (operator command). */
  NotFound: 'MEDIA_NOT_FOUND',
} as const;

export type MediaErrorCode = (typeof MediaErrorCodes)[keyof typeof MediaErrorCodes];

/**
 * The original is not a safe image: wrong type, damaged, or too many pixels. `reason` is shown to the
 * owner (`media.rejected`), so it is written for a person.
 */
export class UnsafeImageError extends DomainError<typeof MediaErrorCodes.Unsafe> {
  override readonly name: string = 'UnsafeImageError';
  readonly reason: string;
  constructor(reason: string, options?: ErrorOptions) {
    super('invalid', MediaErrorCodes.Unsafe, reason, { cause: options?.cause });
    this.reason = reason;
  }
}

/** `originals/<mediaId>` does not exist. Retried (it may be a replica lagging), rejected on the last try. */
export class OriginalMissingError extends DomainError<typeof MediaErrorCodes.OriginalMissing> {
  override readonly name: string = 'OriginalMissingError';
  readonly bucket: string;
  readonly key: string;
  constructor(bucket: string, key: string, options?: ErrorOptions) {
    super('not_found', MediaErrorCodes.OriginalMissing, `original s3://${bucket}/${key} not found`, {
      cause: options?.cause,
    });
    this.bucket = bucket;
    this.key = key;
  }
}

/** The operator asked for a media this service has no record of. */
export class MediaNotFoundError extends DomainError<typeof MediaErrorCodes.NotFound> {
  override readonly name: string = 'MediaNotFoundError';
  readonly mediaId: string;
  constructor(mediaId: string) {
    super(
      'not_found',
      MediaErrorCodes.NotFound,
      `no record of media ${mediaId}: it was never delivered to media-processing`,
    );
    this.mediaId = mediaId;
  }
}
