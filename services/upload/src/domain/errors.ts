/** Why an upload was refused, each with the HTTP status it reaches the client with. */
export const UploadErrorCodes = {
  tooLarge: { code: 'UPLOAD_TOO_LARGE', status: 413 },
  unsupportedType: { code: 'UPLOAD_UNSUPPORTED_TYPE', status: 415 },
  invalidField: { code: 'UPLOAD_INVALID_FIELD', status: 400 },
} as const;

export type UploadErrorKind = keyof typeof UploadErrorCodes;

/** An upload refused because of what the client sent; nothing of it is kept. */
export class UploadError extends Error {
  override readonly name = 'UploadError';
  readonly code: string;
  readonly status: number;
  constructor(
    readonly kind: UploadErrorKind,
    message: string,
    /** The form field at fault (400s). */
    readonly field?: string,
  ) {
    super(message);
    this.code = UploadErrorCodes[kind].code;
    this.status = UploadErrorCodes[kind].status;
  }
}
