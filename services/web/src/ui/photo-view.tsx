import type { Post } from '../api/types.ts';
import { placeholderOf } from './blurhash.ts';
import { altOf, fallbackOf, srcsetOf } from './photo.ts';

/** The feed column is at most 600 CSS px wide; on a phone the photo spans the screen. */
const SIZES = '(min-width: 600px) 600px, 100vw';

/**
 * WebP where the browser takes it, JPEG otherwise; width and height reserve the space before it loads, and
 * the blurhash fills that space meanwhile.
 */
export function PhotoView({ post, eager, first }: { post: Post; eager: boolean; first?: boolean }) {
  const { media } = post;
  const fallback = fallbackOf(media.renditions);
  const placeholder = placeholderOf(media.blurhash, media.width, media.height);
  return (
    <picture>
      <source type="image/webp" srcset={srcsetOf(media.renditions, 'webp')} sizes={SIZES} />
      <img
        src={fallback?.url}
        srcset={srcsetOf(media.renditions, 'jpeg')}
        sizes={SIZES}
        width={media.width}
        height={media.height}
        alt={altOf(post)}
        loading={eager ? 'eager' : 'lazy'}
        // The first photo is what a person waits for: ahead of the other requests of the first load.
        fetchpriority={first ? 'high' : undefined}
        decoding="async"
        style={placeholder ? { backgroundImage: `url("${placeholder}")` } : undefined}
      />
    </picture>
  );
}
