import type { Post, Rendition } from '../api/types.ts';

/** `url 640w, url 1080w` of one format's full-frame renditions (never the square thumb), narrowest first. */
export function srcsetOf(renditions: readonly Rendition[], format: 'webp' | 'jpeg'): string {
  return renditions
    .filter((r) => r.name !== 'thumb' && (format === 'jpeg' ? /^jpe?g$/.test(r.format) : r.format === format))
    .sort((a, b) => a.width - b.width)
    .map((r) => `${r.url} ${r.width}w`)
    .join(', ');
}

/** The JPEG an old browser loads: the one nearest 640 wide. */
export function fallbackOf(renditions: readonly Rendition[]): Rendition | undefined {
  const jpegs = renditions.filter((r) => r.name !== 'thumb' && /^jpe?g$/.test(r.format));
  return jpegs.sort((a, b) => Math.abs(a.width - 640) - Math.abs(b.width - 640))[0];
}

/** What a screen reader says for the photo: the author's alt text, else who shared it. */
export function altOf(post: Post): string {
  const alt = post.altText?.trim();
  return alt ? alt : `Photo shared by ${post.author.username}`;
}

/** The square 150 px crop in one format, for grids. */
export function thumbOf(renditions: readonly Rendition[], format: 'webp' | 'jpeg'): Rendition | undefined {
  return renditions.find(
    (r) => r.name === 'thumb' && (format === 'jpeg' ? /^jpe?g$/.test(r.format) : r.format === format),
  );
}
