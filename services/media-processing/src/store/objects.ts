import {
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { OriginalMissingError, UnsafeImageError } from '../domain/errors.ts';
import { CACHE_CONTROL, contentTypeOf, type RenditionFormat, renditionPrefix } from '../domain/renditions.ts';

/** The S3 objects media-processing reads (originals, private) and writes (renditions, public through the gateway). */
export interface MediaObjects {
  /**
   * The original's bytes. Throws `OriginalMissingError` when it does not exist, `UnsafeImageError` when it
   * is larger than `maxBytes` (nothing downloaded), and the SDK's error for anything else (retried).
   */
  readOriginal(bucket: string, key: string, maxBytes: number): Promise<Buffer>;
  /** Writes one rendition with its Content-Type and an immutable Cache-Control; overwriting is harmless. */
  writeRendition(key: string, format: RenditionFormat, body: Buffer): Promise<void>;
  /** Keys of the renditions stored for a media (tests and operators). */
  listRenditions(mediaId: string): Promise<string[]>;
  /** Deletes every rendition of a media (operator clean-up before re-processing). */
  deleteRenditions(mediaId: string): Promise<number>;
}

export function createMediaObjects(s3: S3Client, bucket: string): MediaObjects {
  return {
    async readOriginal(sourceBucket, key, maxBytes) {
      let response: GetObjectCommandOutput;
      try {
        response = await s3.send(new GetObjectCommand({ Bucket: sourceBucket, Key: key }));
      } catch (err) {
        if (err instanceof NoSuchKey || isNotFound(err)) {
          throw new OriginalMissingError(sourceBucket, key, { cause: err });
        }
        throw err;
      }
      const body = response.Body;
      if (!body) throw new OriginalMissingError(sourceBucket, key);
      if (response.ContentLength !== undefined && response.ContentLength > maxBytes) {
        (body as { destroy?: () => void }).destroy?.();
        throw new UnsafeImageError(
          `The file is too large to process: ${response.ContentLength} bytes (at most ${maxBytes}).`,
        );
      }
      const bytes = await body.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },

    async writeRendition(key, format, body) {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentType: contentTypeOf(format),
          CacheControl: CACHE_CONTROL,
        }),
      );
    },

    async listRenditions(mediaId) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: renditionPrefix(mediaId),
            ContinuationToken: token,
          }),
        );
        for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys.sort();
    },

    async deleteRenditions(mediaId) {
      const keys = await this.listRenditions(mediaId);
      if (keys.length === 0) return 0;
      await s3.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }),
      );
      return keys.length;
    },
  };
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}
