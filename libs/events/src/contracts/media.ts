import { Type } from '@sinclair/typebox';
import { AltText, Caption, Id, Text } from './common.ts';

const Dimension = Type.Integer({ minimum: 1, maximum: 100_000, description: 'Pixels' });

/** An S3 object key (S3 allows up to 1024 bytes). */
const ObjectKey = Type.String({ minLength: 1, maxLength: 1024 });

/** A BlurHash placeholder string (https://blurha.sh): base-83 characters. */
export const BlurHash = Type.String({
  pattern: '^[0-9A-Za-z#$%*+,.:;=?@\\[\\]^_{|}~-]{6,128}$',
  description: 'BlurHash of the image',
});

/** One stored size of a processed image: `1080`, `640`, `320` (JPEG and WebP) and `thumb` (150x150). */
export const Rendition = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9_-]{1,32}$', description: 'e.g. 1080, 640, 320, thumb' }),
  width: Dimension,
  height: Dimension,
  format: Type.Union([Type.Literal('jpeg'), Type.Literal('webp')]),
  key: ObjectKey,
});

/** `media.uploaded` — the original is in S3 under `originals/`; processing may start. */
export const MediaUploaded = Type.Object(
  {
    mediaId: Id,
    ownerId: Id,
    bucket: Type.String({ pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$', description: 'S3 bucket' }),
    key: ObjectKey,
    contentType: Type.String({ pattern: '^image/[a-z0-9.+-]{1,60}$', description: 'Declared MIME type' }),
    bytes: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'Hex SHA-256 of the original' }),
    caption: Type.Optional(Caption),
    altText: Type.Optional(AltText),
  },
  { title: 'media.uploaded data' },
);

/** `media.processed` — renditions are in S3 under `media/<mediaId>/`; metadata turns this into a post. */
export const MediaProcessed = Type.Object(
  {
    mediaId: Id,
    ownerId: Id,
    width: Dimension,
    height: Dimension,
    blurhash: BlurHash,
    renditions: Type.Array(Rendition, { minItems: 1, maxItems: 16 }),
    caption: Type.Optional(Caption),
    altText: Type.Optional(AltText),
  },
  { title: 'media.processed data' },
);

/** `media.rejected` — the original is not a safe image (or processing gave up); the upload is rejected. */
export const MediaRejected = Type.Object(
  {
    mediaId: Id,
    ownerId: Id,
    reason: Text(500, 1, 'Why the media was rejected, shown to its owner'),
  },
  { title: 'media.rejected data' },
);

/** The image of a published post, as feeds render it. */
export const PostMedia = Type.Object({
  width: Dimension,
  height: Dimension,
  blurhash: BlurHash,
  renditions: Type.Array(Rendition, { minItems: 1, maxItems: 16 }),
});
