/** The image types upload accepts, identified from the file's first bytes (never the client's Content-Type). */
export type ImageType = 'image/jpeg' | 'image/png' | 'image/webp' | 'image/avif';

/** Enough bytes to see every signature below, including an AVIF `ftyp` box with its compatible brands. */
export const SNIFF_BYTES = 64;

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const AVIF_BRANDS = new Set(['avif', 'avis']);

function ascii(head: Buffer, start: number, end: number): string {
  return head.subarray(start, end).toString('latin1');
}

/** An ISO-BMFF file whose `ftyp` box names AVIF as its major or a compatible brand (HEIC does not). */
function isAvif(head: Buffer): boolean {
  if (head.length < 16 || ascii(head, 4, 8) !== 'ftyp') return false;
  const boxSize = Math.min(head.readUInt32BE(0), head.length);
  if (boxSize < 16) return false;
  if (AVIF_BRANDS.has(ascii(head, 8, 12))) return true;
  // after the major brand (8-12) and minor version (12-16): compatible brands, 4 bytes each
  for (let at = 16; at + 4 <= boxSize; at += 4) {
    if (AVIF_BRANDS.has(ascii(head, at, at + 4))) return true;
  }
  return false;
}

/** The type of an image from its first bytes (up to `SNIFF_BYTES`), or `undefined` when it is none we accept. */
export function sniffImageType(head: Buffer): ImageType | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (head.length >= PNG.length && head.subarray(0, PNG.length).equals(PNG)) return 'image/png';
  if (head.length >= 12 && ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'image/webp';
  if (isAvif(head)) return 'image/avif';
  return undefined;
}
