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
export function mediaObjects(s3: S3Client, bucket: string) {
  const objects = {
    /**
     * The original's bytes. Throws `OriginalMissingError` when it does not exist, `UnsafeImageError` when it
     * is larger than `maxBytes` (nothing downloaded), and the SDK's error for anything else (retried).
     */
    async readOriginal(sourceBucket: string, key: string, maxBytes: number): Promise<Buffer> {
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

    /** Writes one rendition with its Content-Type and an immutable Cache-Control; overwriting is harmless. */
    async writeRendition(key: string, format: RenditionFormat, body: Buffer): Promise<void> {
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

    /** Keys of the renditions stored for a media (tests and operators). */
    async listRenditions(mediaId: string): Promise<string[]> {
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

    /** Deletes every rendition of a media (operator clean-up before re-processing). */
    async deleteRenditions(mediaId: string): Promise<number> {
      const keys = await objects.listRenditions(mediaId);
      if (keys.length === 0) return 0;
      await s3.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }),
      );
      return keys.length;
    },
  };
  return objects;
}

export type MediaObjects = ReturnType<typeof mediaObjects>;

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}
