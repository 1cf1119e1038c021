import { DomainError } from '@instantpost/http/errors';

/** Every failure notification reports to a caller, as stable codes (the problem's `code`). */
export const NotificationErrorCodes = {
  /** A `cursor` this API did not give out. */
  BadCursor: 'NOTIFICATION_BAD_CURSOR',
  /** A `Last-Event-ID` the stream did not send. */
  BadEventId: 'NOTIFICATION_BAD_EVENT_ID',
  /** `upTo` is not one of the caller's notifications. */
  NotFound: 'NOTIFICATION_NOT_FOUND',
} as const;

export type NotificationErrorCode = (typeof NotificationErrorCodes)[keyof typeof NotificationErrorCodes];

/** A failure meant for the caller; libs/http turns its kind into the status. */
export class NotificationError extends DomainError<NotificationErrorCode> {
  override readonly name: string = 'NotificationError';
}
