import { createEvent } from '@instantpost/events';
import type { Logger } from '@instantpost/telemetry';
import { originalKey } from '../store/originals.ts';
import type { UploadStore } from '../store/uploads.ts';
import { UploadError, UploadErrorCodes } from './errors.ts';
import { checkTextField, isTextField, type UploadFields } from './fields.ts';
import { type OriginalStore, type ReceivedOriginal, receiveOriginal } from './receive.ts';
import type { VisibleStatus } from './status.ts';

/** One part of the multipart form, in the order the client sent them. */
export type FormPart =
  | { readonly kind: 'field'; readonly name: string; readonly value: unknown; readonly truncated: boolean }
  | { readonly kind: 'file'; readonly name: string; readonly stream: AsyncIterable<Buffer> };

export interface AcceptDeps {
  /** Uploads: the row and its id live on the owner's shard. */
  readonly uploads: Pick<UploadStore, 'nextMediaId' | 'recordUpload'>;
  readonly originals: OriginalStore;
  readonly bucket: string;
  readonly maxBytes: number;
  readonly logger: Logger;
}

/** The answer to an upload: a new media, or the owner's existing media with the same bytes. */
export interface Accepted {
  readonly id: string;
  readonly status: VisibleStatus;
  /** Why the existing media was rejected (duplicates only). */
  readonly reason?: string;
  readonly duplicate: boolean;
}

const SOURCE = '/instantpost/upload';

async function discard(stream: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of stream) {
    // drained so the parser reaches the next part
  }
}

/**
 * Takes a photo upload: streams the `photo` part to `originals/<id>` (id from the owner's shard), then
 * records the upload and its `media.uploaded` event in one transaction. The same owner sending the same
 * bytes again gets the existing media back and the new copy is deleted. Whatever fails after the photo
 * was stored (a bad field, the database) deletes it again, so a refused upload leaves nothing behind.
 */
export async function acceptUpload(
  ownerId: string,
  parts: AsyncIterable<FormPart>,
  deps: AcceptDeps,
): Promise<Accepted> {
  const fields: UploadFields = {};
  let stored: { id: string; key: string; original: ReceivedOriginal } | undefined;
  try {
    for await (const part of parts) {
      if (part.kind === 'field') {
        if (isTextField(part.name)) fields[part.name] = checkTextField(part.name, part.value, part.truncated);
        continue;
      }
      if (part.name !== 'photo' || stored) {
        await discard(part.stream);
        throw new UploadError(
          UploadErrorCodes.InvalidField,
          part.name === 'photo' ? 'send one photo per upload' : `unexpected file field "${part.name}"`,
          part.name,
        );
      }
      const id = await deps.uploads.nextMediaId(ownerId);
      const key = originalKey(id);
      const original = await receiveOriginal(part.stream, {
        key,
        maxBytes: deps.maxBytes,
        store: deps.originals,
      });
      stored = { id, key, original };
    }
    if (!stored)
      throw new UploadError(
        UploadErrorCodes.InvalidField,
        'photo is required (a file field named "photo")',
        'photo',
      );

    const { id, key, original } = stored;
    const event = createEvent(
      'media.uploaded',
      {
        mediaId: id,
        ownerId,
        bucket: deps.bucket,
        key,
        contentType: original.contentType,
        bytes: original.bytes,
        sha256: original.sha256,
        ...(fields.caption !== undefined ? { caption: fields.caption } : {}),
        ...(fields.altText !== undefined ? { altText: fields.altText } : {}),
      },
      { source: SOURCE, subject: id },
    );
    const result = await deps.uploads.recordUpload(
      {
        id,
        ownerId,
        sha256: original.sha256,
        bytes: original.bytes,
        contentType: original.contentType,
        objectKey: key,
        caption: fields.caption,
        altText: fields.altText,
      },
      event,
    );
    if (result.created) return { id, status: 'processing', duplicate: false };
    await deps.originals.delete(key);
    const { existing } = result;
    return {
      id: existing.id,
      status: existing.status,
      ...(existing.reason ? { reason: existing.reason } : {}),
      duplicate: true,
    };
  } catch (err) {
    if (stored) {
      const key = stored.key;
      // A leftover original is only storage; the client's error matters more than this one.
      await deps.originals.delete(key).catch((cause: unknown) => {
        deps.logger.error({ err: cause, key }, 'could not delete the original of a refused upload');
      });
    }
    throw err;
  }
}
