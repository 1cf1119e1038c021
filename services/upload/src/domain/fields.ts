import { UploadError, UploadErrorCodes } from './errors.ts';

/** Bounds of the text fields, as the API and the `media.uploaded` contract state them (UTF-16 units). */
export const CAPTION_MAX = 2200;
export const ALT_TEXT_MAX = 1000;

export interface UploadFields {
  caption?: string;
  altText?: string;
}

const LIMITS = { caption: CAPTION_MAX, altText: ALT_TEXT_MAX } as const;

export function isTextField(name: string): name is keyof typeof LIMITS {
  return Object.hasOwn(LIMITS, name);
}

/** Checks one text field; `truncated` means the multipart parser already cut it at its byte limit. */
export function checkTextField(name: keyof typeof LIMITS, value: unknown, truncated: boolean): string {
  const max = LIMITS[name];
  if (typeof value !== 'string')
    throw new UploadError(UploadErrorCodes.InvalidField, `${name} must be text`, name);
  if (truncated || value.length > max) {
    throw new UploadError(UploadErrorCodes.InvalidField, `${name} must be at most ${max} characters`, name);
  }
  // Postgres text cannot hold NUL.
  if (value.includes('\u0000')) {
    throw new UploadError(UploadErrorCodes.InvalidField, `${name} must not contain NUL characters`, name);
  }
  return value;
}
