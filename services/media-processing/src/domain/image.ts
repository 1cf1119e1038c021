import { encode as encodeBlurhash } from 'blurhash';
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { UnsafeImageError } from './errors.ts';
import {
  FORMATS,
  JPEG_PROGRESSIVE,
  JPEG_QUALITY,
  type RenditionFormat,
  SIZES,
  THUMB,
  WEBP_EFFORT,
  WEBP_QUALITY,
} from './renditions.ts';

/** One encoded rendition, ready to store. */
export interface EncodedRendition {
  readonly name: string;
  readonly format: RenditionFormat;
  readonly width: number;
  readonly height: number;
  readonly body: Buffer;
}

/** Everything one original turns into. `width`/`height` are the upright dimensions of the original. */
export interface RenderedImage {
  readonly width: number;
  readonly height: number;
  readonly blurhash: string;
  readonly renditions: readonly EncodedRendition[];
}

export interface RenderOptions {
  /** Largest width × height decoded; more is a decompression bomb, rejected from the header alone. */
  readonly maxPixels: number;
  /** Called between steps, so a consumer can tell the server it is still working. */
  readonly onProgress?: () => void;
}

/**
 * libvips settings for a worker: one thread per image (measured: a second thread per image gains
 * 15-30 %, a second image in parallel ~100 %), so MEDIA_CONCURRENCY images keep the cores busy; no
 * operation cache, so memory stays bounded by the images in flight. They are the process's (libvips has
 * one pool), and loading sharp turns its cache on again: a thread that loads sharp applies them again.
 */
export function configureSharp(): void {
  sharp.concurrency(1);
  sharp.cache(false);
}

export type SniffedFormat = 'jpeg' | 'png' | 'webp' | 'avif';

const SUPPORTED = 'Only JPEG, PNG, WebP and AVIF photos are supported.';

/**
 * Longest side over shortest side. Past ~15:1 a 1080-wide rendition of a tall image exceeds WebP's
 * 16383-pixel limit, and no feed can show such a strip anyway.
 */
export const MAX_ASPECT_RATIO = 15;

/** The image type from the magic bytes (the client's Content-Type is not trusted), or undefined. */
export function sniffFormat(bytes: Uint8Array): SniffedFormat | undefined {
  const ascii = (from: number, to: number) => Buffer.from(bytes.subarray(from, to)).toString('latin1');
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (ascii(4, 8) === 'ftyp') {
    const boxEnd = Math.min(bytes.length, Buffer.from(bytes.subarray(0, 4)).readUInt32BE(0));
    // major brand at 8, minor version at 12, compatible brands from 16
    for (let at = 8; at + 4 <= boxEnd; at += at === 8 ? 8 : 4) {
      const brand = ascii(at, at + 4);
      if (brand === 'avif' || brand === 'avis') return 'avif';
    }
  }
  return undefined;
}

/**
 * Decodes `input` once (upright, converted to sRGB through its embedded ICC profile — sharp does that for
 * any profile but sRGB — alpha flattened on white, no metadata) into an 8-bit master no
 * wider than needed, then resizes and encodes every rendition from that master and computes the
 * blurhash. All pixel work runs in libvips on libuv's thread pool, never on the event loop.
 *
 * Throws `UnsafeImageError` (with a reason for the owner) for anything that is not a decodable image of
 * an accepted type within the pixel limit; the header is checked before any pixel is decoded.
 */
export async function renderImage(input: Buffer, options: RenderOptions): Promise<RenderedImage> {
  const sniffed = sniffFormat(input);
  if (!sniffed) throw new UnsafeImageError(`The file is not an image we accept. ${SUPPORTED}`);

  let header: Metadata;
  try {
    // Reads the header only, so no limit is needed here; the limit is enforced just below.
    header = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new UnsafeImageError('The image could not be read: the file is damaged.', { cause: err });
  }
  const accepted =
    (sniffed === 'avif' && header.format === 'heif' && header.compression === 'av1') ||
    header.format === sniffed;
  if (!accepted) throw new UnsafeImageError(`The file is not an image we accept. ${SUPPORTED}`);
  const { width: storedWidth, height: storedHeight } = header;
  if (!storedWidth || !storedHeight) {
    throw new UnsafeImageError('The image could not be read: it declares no size.');
  }
  if (storedWidth * storedHeight > options.maxPixels) {
    throw new UnsafeImageError(
      `The image is too large to process: ${storedWidth}×${storedHeight} pixels ` +
        `(at most ${formatMegapixels(options.maxPixels)} megapixels).`,
    );
  }
  if (Math.max(storedWidth, storedHeight) / Math.min(storedWidth, storedHeight) > MAX_ASPECT_RATIO) {
    throw new UnsafeImageError(
      `The image is too narrow: ${storedWidth}×${storedHeight} pixels (at most ${MAX_ASPECT_RATIO}:1).`,
    );
  }
  // EXIF orientations 5-8 are rotated by 90°: the upright image has width and height swapped.
  const swapped = (header.orientation ?? 1) >= 5;
  const width = swapped ? storedHeight : storedWidth;
  const height = swapped ? storedWidth : storedHeight;

  const master = await decodeMaster(input, options.maxPixels, masterWidth(width, height));
  options.onProgress?.();

  // Each size is resized once (both formats encode the same pixels) from the previous, smaller level
  // rather than from the master: 1080 → 640 → 320 costs about half of three resizes from 1080.
  const renditions: EncodedRendition[] = [];
  const levels: Pixels[] = [master];
  for (const size of SIZES) {
    const target = Math.min(size.width, width);
    let level = levels.at(-1) as Pixels;
    if (target !== level.info.width) {
      // The height from the upright original, so a chain of roundings never drifts by a pixel.
      const targetHeight = Math.max(1, Math.round((height * target) / width));
      level = await toPixels(pixels(level).resize(target, targetHeight, { fit: 'fill' }));
      levels.push(level);
    }
    for (const format of FORMATS) renditions.push(await encode(pixels(level), size.name, format));
    options.onProgress?.();
  }
  // The thumb and the blurhash come from the smallest level still covering a thumb on its short side.
  const small = levels.findLast((l) => Math.min(l.info.width, l.info.height) >= THUMB.size) ?? master;
  const thumb = await toPixels(
    pixels(small).resize(THUMB.size, THUMB.size, { fit: 'cover', position: 'centre' }),
  );
  for (const format of FORMATS) renditions.push(await encode(pixels(thumb), THUMB.name, format));
  const blurhash = await blurhashOf(pixels(small));
  options.onProgress?.();
  return { width, height, blurhash, renditions };
}

/** Decoded 8-bit pixels and their layout. */
interface Pixels {
  readonly data: Buffer;
  readonly info: OutputInfo;
}

function pixels({ data, info }: Pixels): Sharp {
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
}

function toPixels(pipeline: Sharp): Promise<Pixels> {
  return pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
}

/**
 * The master is as wide as the largest rendition (1080, or the original when narrower), but wide enough
 * that its short side still gives a 150-pixel thumb for panoramas. Decoding straight to this size lets
 * libjpeg shrink on load instead of decoding every pixel of a 12 MP photo.
 */
function masterWidth(width: number, height: number): number {
  const widest = Math.max(...SIZES.map((s) => s.width));
  return Math.min(width, Math.max(widest, Math.ceil((THUMB.size * width) / height)));
}

async function decodeMaster(input: Buffer, maxPixels: number, targetWidth: number): Promise<Pixels> {
  try {
    return await sharp(input, { limitInputPixels: maxPixels, failOn: 'error' })
      .autoOrient()
      .resize({ width: targetWidth, withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new UnsafeImageError('The image could not be decoded: the file is damaged or incomplete.', {
      cause: err,
    });
  }
}

async function encode(pipeline: Sharp, name: string, format: RenditionFormat): Promise<EncodedRendition> {
  const encoded =
    format === 'jpeg'
      ? pipeline.jpeg({ quality: JPEG_QUALITY, progressive: JPEG_PROGRESSIVE })
      : pipeline.webp({ quality: WEBP_QUALITY, effort: WEBP_EFFORT });
  const { data, info } = await encoded.toBuffer({ resolveWithObject: true });
  return { name, format, width: info.width, height: info.height, body: data };
}

async function blurhashOf(pipeline: Sharp): Promise<string> {
  const { data, info } = await pipeline
    .resize(32, 32, { fit: 'inside' })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const pixels = new Uint8ClampedArray(data.buffer, data.byteOffset, data.length);
  return encodeBlurhash(pixels, info.width, info.height, 4, 3);
}

function formatMegapixels(pixels: number): string {
  return String(Math.round(pixels / 100_000) / 10);
}
