/** Failures of processing one original, as stable codes. */
export const MediaErrorCodes = {
  /** The file is not an image we accept, cannot be decoded, or is unsafe to decode: reject, never retry. */
  Unsafe: 'MEDIA_UNSAFE',
  /** The original is not in S3 (yet, or any more). */
  OriginalMissing: 'MEDIA_ORIGINAL_MISSING',
  /** No record of the media (operator command). */
  NotFound: 'MEDIA_NOT_FOUND',
} as const;

/**
 * The original is not a safe image: wrong type, damaged, or too many pixels. `reason` is shown to the
 * owner (`media.rejected`), so it is written for a person.
 */
export class UnsafeImageError extends Error {
  override readonly name = 'UnsafeImageError';
  readonly code = MediaErrorCodes.Unsafe;
  constructor(
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(reason, options);
  }
}

/** `originals/<mediaId>` does not exist. Retried (it may be a replica lagging), rejected on the last try. */
export class OriginalMissingError extends Error {
  override readonly name = 'OriginalMissingError';
  readonly code = MediaErrorCodes.OriginalMissing;
  constructor(
    readonly bucket: string,
    readonly key: string,
    options?: ErrorOptions,
  ) {
    super(`original s3://${bucket}/${key} not found`, options);
  }
}

/** The operator asked for a media this service has no record of. */
export class MediaNotFoundError extends Error {
  override readonly name = 'MediaNotFoundError';
  readonly code = MediaErrorCodes.NotFound;
  constructor(readonly mediaId: string) {
    super(`no record of media ${mediaId}: it was never delivered to media-processing`);
  }
}
