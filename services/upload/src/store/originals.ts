import type { Readable } from 'node:stream';
import { DeleteObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { SpanKind, withSpan } from '@instantpost/telemetry';
import type { ImageType } from '../domain/image-type.ts';

/** S3's smallest part: a photo under it goes up in one PutObject, a larger one in 5 MiB parts. */
const PART_BYTES = 5 * 1024 * 1024;
/** Parts in flight per upload: bounds the memory of one upload to about PART_BYTES × (this + 1). */
const PARTS_IN_FLIGHT = 2;

/** The private originals in S3 (`originals/<mediaId>`), never served (the domain's `OriginalStore`). */
export function originalStore(s3: S3Client, bucket: string) {
  return {
    async put(key: string, body: Readable, contentType: ImageType) {
      // Known-length parts (lib-storage), since emulators do not decode aws-chunked bodies; a failing body
      // aborts the multipart upload (leavePartsOnError: false), so no object or part is left.
      await withSpan(
        's3 put original',
        () =>
          new Upload({
            client: s3,
            params: { Bucket: bucket, Key: key, Body: body, ContentType: contentType },
            partSize: PART_BYTES,
            queueSize: PARTS_IN_FLIGHT,
            leavePartsOnError: false,
          }).done(),
        { kind: SpanKind.CLIENT, attributes: { 's3.bucket': bucket, 's3.key': key } },
      );
    },
    async delete(key: string) {
      await withSpan(
        's3 delete original',
        () => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })),
        { kind: SpanKind.CLIENT, attributes: { 's3.bucket': bucket, 's3.key': key } },
      );
    },

    /** Pages (≤ 1000) of the keys under `originals/`. */
    async *keyPages(): AsyncGenerator<string[]> {
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: 'originals/', ContinuationToken: token }),
        );
        yield (page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : []));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },
  };
}

/** The key of a media's original. */
export function originalKey(mediaId: string): string {
  return `originals/${mediaId}`;
}
