import type { Post } from '../api/types.ts';
import { Link } from './link.tsx';

// The same tokens metadata's caption parser finds (services/metadata/src/domain/caption.ts); only those
// the API lists on the post become links, so the server stays the judge of what is a tag or a mention.
const TOKEN =
  /(?<![\p{L}\p{M}\p{N}_&])#([\p{L}\p{M}\p{N}_]+)|(?<![\p{L}\p{M}\p{N}_.@])@([A-Za-z0-9._]{1,30})(?![A-Za-z0-9._])/gu;

const foldTag = (tag: string) => tag.normalize('NFKC').toLowerCase();

/** A caption with its #tags linked to their pages and its @mentions to the profiles. */
export function Caption({ text, post }: { text: string; post: Pick<Post, 'hashtags' | 'mentions'> }) {
  const tags = new Set(post.hashtags);
  const people = new Set(post.mentions.map((m) => m.username));
  const parts: (string | preact.JSX.Element)[] = [];
  let at = 0;
  for (const match of text.matchAll(TOKEN)) {
    const start = match.index ?? 0;
    const [whole, tag, name] = match;
    let link: preact.JSX.Element | undefined;
    if (tag !== undefined && tags.has(foldTag(tag))) {
      link = (
        <Link key={start} to={{ name: 'tag', tag: foldTag(tag) }}>
          {whole}
        </Link>
      );
    } else if (name !== undefined) {
      const username = name.toLowerCase().replace(/\.+$/, '');
      if (people.has(username)) {
        link = (
          <Link key={start} to={{ name: 'profile', username }}>
            {whole}
          </Link>
        );
      }
    }
    if (!link) continue;
    parts.push(text.slice(at, start), link);
    at = start + whole.length;
  }
  parts.push(text.slice(at));
  return <>{parts}</>;
}
