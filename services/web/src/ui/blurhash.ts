import { decode } from 'blurhash';

const WIDTH = 32;
const painted = new Map<string, string | undefined>();

/**
 * The blurhash painted small (32 px wide, the photo's aspect ratio) as a PNG data: URL, for the photo's
 * background while it loads; undefined for a hash that does not decode. Each hash is painted once.
 */
export function placeholderOf(hash: string, width: number, height: number): string | undefined {
  const key = `${hash}:${width}x${height}`;
  if (painted.has(key)) return painted.get(key);
  let url: string | undefined;
  try {
    const h = Math.max(1, Math.round((WIDTH * height) / Math.max(1, width)));
    const canvas = document.createElement('canvas');
    canvas.width = WIDTH;
    canvas.height = h;
    const context = canvas.getContext('2d');
    if (context) {
      const image = context.createImageData(WIDTH, h);
      image.data.set(decode(hash, WIDTH, h));
      context.putImageData(image, 0, 0);
      url = canvas.toDataURL('image/png');
    }
  } catch {
    url = undefined; // not a valid blurhash: the plain grey background stays
  }
  painted.set(key, url);
  return url;
}
