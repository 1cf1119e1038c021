/**
 * Where an upload is: processing until media-processing rejects it or metadata publishes its post;
 * `deleted` once its post was deleted (never shown: its status is 404 like unknown media).
 */
export type MediaStatus = 'processing' | 'published' | 'rejected' | 'deleted';

/** The statuses `GET /v1/media/:id/status` shows. */
export type VisibleStatus = Exclude<MediaStatus, 'deleted'>;

/**
 * The states an upload may leave for `to`. A published post wins over processing and rejection (an operator
 * may re-process a rejected original and publish it); a rejection only ends processing, it never takes back a
 * published post; a deletion is final (a late `post.published` does not bring it back). Repeating a state is
 * harmless (redeliveries, replays).
 */
export function statesThatMayBecome(to: Exclude<MediaStatus, 'processing'>): readonly MediaStatus[] {
  if (to === 'published') return ['processing', 'rejected', 'published'];
  if (to === 'rejected') return ['processing', 'rejected'];
  return ['processing', 'published', 'rejected', 'deleted'];
}

/** Whether reaching `to` frees the owner's bytes for a new upload (the dedupe record is released). */
export function releasesDedupe(to: MediaStatus): boolean {
  return to === 'rejected' || to === 'deleted';
}
