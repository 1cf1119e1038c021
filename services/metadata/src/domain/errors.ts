import { DomainError } from '@instantpost/http/errors';

/** Every failure metadata reports to a caller, as stable codes (the problem's `code`). */
export const MetadataErrorCodes = {
  /** Sign-up with a username someone has (also when two sign-ups race for it). */
  UsernameTaken: 'METADATA_USERNAME_TAKEN',
  /** An unknown username or a wrong password: one code for both. */
  BadCredentials: 'METADATA_BAD_CREDENTIALS',
  /** Too many failed logins from this client: wait and try again. */
  TooManyLogins: 'METADATA_TOO_MANY_LOGINS',
  /** A refresh token that is not one of a live session. */
  RefreshTokenInvalid: 'METADATA_REFRESH_TOKEN_INVALID',
  /** A refresh token presented again after its grace window: the session is revoked. */
  RefreshTokenReused: 'METADATA_REFRESH_TOKEN_REUSED',
  /** The caller's own account is gone. */
  AccountNotFound: 'METADATA_ACCOUNT_NOT_FOUND',
  /** No such user, or one the caller may not see. */
  UserNotFound: 'METADATA_USER_NOT_FOUND',
  /** No such post, deleted, or one the caller may not see. */
  PostNotFound: 'METADATA_POST_NOT_FOUND',
  /** Approving or denying a follow request that is not pending. */
  FollowRequestNotFound: 'METADATA_FOLLOW_REQUEST_NOT_FOUND',
  /** Following or unfollowing oneself. */
  SelfFollow: 'METADATA_SELF_FOLLOW',
  /** Deleting someone else's post. */
  NotAuthor: 'METADATA_NOT_AUTHOR',
  /** An id in the path that is not an id. */
  BadId: 'METADATA_BAD_ID',
  /** A `cursor` this API did not give out. */
  BadCursor: 'METADATA_BAD_CURSOR',
  /** A hashtag that cannot be one. */
  BadTag: 'METADATA_BAD_TAG',
} as const;

export type MetadataErrorCode = (typeof MetadataErrorCodes)[keyof typeof MetadataErrorCodes];

/** A failure of metadata's domain meant for the caller; libs/http turns its kind into the status. */
export class MetadataError extends DomainError<MetadataErrorCode> {
  override readonly name: string = 'MetadataError';
}

export const postNotFound = () =>
  new MetadataError('not_found', MetadataErrorCodes.PostNotFound, 'post not found');
export const userNotFound = () =>
  new MetadataError('not_found', MetadataErrorCodes.UserNotFound, 'user not found');
export const accountNotFound = () =>
  new MetadataError('not_found', MetadataErrorCodes.AccountNotFound, 'account not found');
export const invalidRefreshToken = () =>
  new MetadataError('unauthorized', MetadataErrorCodes.RefreshTokenInvalid, 'invalid refresh token');
