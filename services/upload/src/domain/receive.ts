import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { UploadError, UploadErrorCodes } from './errors.ts';
import { type ImageType, SNIFF_BYTES, sniffImageType } from './image-type.ts';

/** Where originals go (S3 in the service, see store/originals.ts). */
export interface OriginalStore {
  /** Streams `body` to `key`; rejects (leaving no object) when `body` fails. */
  put(key: string, body: Readable, contentType: ImageType): Promise<void>;
  delete(key: string): Promise<void>;
}

/** What was stored. */
export interface ReceivedOriginal {
  readonly contentType: ImageType;
  readonly bytes: number;
  /** Hex SHA-256 of the bytes, computed while they streamed through. */
  readonly sha256: string;
}

async function discardRest(chunks: AsyncIterator<Buffer>): Promise<void> {
  for (;;) {
    const next = await chunks.next();
    if (next.done) return;
  }
}

/**
 * Streams a photo to `key` without holding it in memory: identifies it from its first bytes (415 before
 * anything is written to S3), then passes it on chunk by chunk while counting and hashing, and fails the
 * stream (so the S3 upload aborts and leaves no object) as soon as it grows past `maxBytes`.
 */
export async function receiveOriginal(
  source: AsyncIterable<Buffer>,
  options: { key: string; maxBytes: number; store: OriginalStore },
): Promise<ReceivedOriginal> {
  const chunks = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < SNIFF_BYTES) {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      break;
    }
    head.push(next.value);
    headBytes += next.value.length;
  }
  const first = Buffer.concat(head);
  if (first.length === 0) throw new UploadError(UploadErrorCodes.InvalidField, 'photo is empty', 'photo');
  const contentType = sniffImageType(first.subarray(0, SNIFF_BYTES));
  if (!contentType) {
    // read to the end (the parser stops at the size limit), so the reply arrives on a usable connection
    await discardRest(chunks);
    throw new UploadError(UploadErrorCodes.UnsupportedType, 'photo must be a JPEG, PNG, WebP or AVIF image');
  }

  const hash = createHash('sha256');
  let bytes = 0;
  let refusal: UploadError | undefined;
  const counted = (chunk: Buffer): Buffer => {
    bytes += chunk.length;
    if (bytes > options.maxBytes) {
      refusal = new UploadError(UploadErrorCodes.TooLarge, `photo must be at most ${options.maxBytes} bytes`);
      throw refusal;
    }
    hash.update(chunk);
    return chunk;
  };
  async function* body(): AsyncGenerator<Buffer> {
    yield counted(first);
    if (ended) return;
    for (;;) {
      const next = await chunks.next();
      if (next.done) return;
      yield counted(next.value);
    }
  }
  try {
    await options.store.put(options.key, Readable.from(body(), { objectMode: false }), contentType);
  } catch (err) {
    if (refusal) {
      // the parser truncated the file at the limit: what is left is at most a few chunks
      await discardRest(chunks);
      throw refusal;
    }
    throw err;
  }
  return { contentType, bytes, sha256: hash.digest('hex') };
}
