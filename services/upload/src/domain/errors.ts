import { DomainError, type ErrorKind } from '@instantpost/http/errors';

/** Every failure upload reports to a caller, as stable codes (the problem's `code`). */
export const UploadErrorCodes = {
  /** The photo is over the size limit. */
  TooLarge: 'UPLOAD_TOO_LARGE',
  /** The photo is not a JPEG, PNG, WebP or AVIF image; or the request is not multipart. */
  UnsupportedType: 'UPLOAD_UNSUPPORTED_TYPE',
  /** A form field is missing, empty, too long or unexpected (`field` names it). */
  InvalidField: 'UPLOAD_INVALID_FIELD',
  /** No such upload of the caller's. */
  NotFound: 'UPLOAD_NOT_FOUND',
} as const;

export type UploadErrorCode = (typeof UploadErrorCodes)[keyof typeof UploadErrorCodes];

const KIND_OF: Record<UploadErrorCode, ErrorKind> = {
  [UploadErrorCodes.TooLarge]: 'too_large',
  [UploadErrorCodes.UnsupportedType]: 'unsupported_type',
  [UploadErrorCodes.InvalidField]: 'invalid',
  [UploadErrorCodes.NotFound]: 'not_found',
};

/** An upload refused because of what the client sent (nothing of it is kept), or one it may not see. */
export class UploadError extends DomainError<UploadErrorCode> {
  override readonly name: string = 'UploadError';
  constructor(code: UploadErrorCode, message: string, field?: string) {
    super(KIND_OF[code], code, message, { field });
  }
}
