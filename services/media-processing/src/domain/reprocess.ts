import { MediaNotFoundError } from './errors.ts';
import { type Outcome, type ProcessDeps, processMedia } from './process.ts';

/**
 * The operator's re-run of one media from its private original (after a pipeline fix, a raised limit, or
 * renditions lost from the bucket): the image work is redone even when it was done before, the same keys
 * are overwritten, and the outcome is published with its deterministic id (a result identical to the one
 * already published is dropped as a duplicate; a rejection that now succeeds goes out as media.processed).
 * A missing original or an S3 failure throws instead of rejecting: the operator sees the error.
 */
export async function reprocessMedia(deps: ProcessDeps, mediaId: string): Promise<Outcome> {
  const record = await deps.manifest.find(mediaId);
  if (!record) throw new MediaNotFoundError(mediaId);
  return processMedia(deps, record.source, { finalAttempt: false, force: true });
}
