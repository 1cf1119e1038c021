import { type CloudEvent, createEvent, type EventData } from '@instantpost/events';
import { PIPELINE_VERSION } from './renditions.ts';

const SOURCE = '/instantpost/media-processing';

/**
 * The id of the result of one original through one pipeline version. Processing the same original again
 * (a redelivery, a replayed media.uploaded, an operator re-run) publishes the same id, so JetStream drops
 * it within its duplicate window and consumers' inboxes drop it after.
 */
function resultId(outcome: 'processed' | 'rejected', mediaId: string, sha256: string): string {
  return `media.${outcome}:${mediaId}:${sha256.slice(0, 16)}:v${PIPELINE_VERSION}`;
}

export function processedEvent(
  data: EventData<'media.processed'>,
  sha256: string,
): CloudEvent<'media.processed'> {
  return createEvent('media.processed', data, {
    source: SOURCE,
    id: resultId('processed', data.mediaId, sha256),
    subject: data.mediaId,
  });
}

export function rejectedEvent(
  data: EventData<'media.rejected'>,
  sha256: string,
): CloudEvent<'media.rejected'> {
  return createEvent('media.rejected', data, {
    source: SOURCE,
    id: resultId('rejected', data.mediaId, sha256),
    subject: data.mediaId,
  });
}
