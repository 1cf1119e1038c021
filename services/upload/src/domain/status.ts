/** Where an upload is: processing until media-processing rejects it or metadata publishes its post. */
export type MediaStatus = 'processing' | 'published' | 'rejected';

/**
 * The states an upload may leave for `to`. A published post wins over everything (an operator may
 * re-process a rejected original and publish it); a rejection only ends processing, it never takes back a
 * published post. Repeating a state is harmless (redeliveries, replays).
 */
export function statesThatMayBecome(to: Exclude<MediaStatus, 'processing'>): readonly MediaStatus[] {
  return to === 'published' ? ['processing', 'rejected', 'published'] : ['processing', 'rejected'];
}
