/** What a caption or comment refers to: hashtags (case-folded, unique) and mentioned usernames (unique). */
export interface CaptionRefs {
  hashtags: string[];
  mentionNames: string[];
}

// A hashtag is a run of Unicode letters, marks, digits and "_" with at least one letter; "#123" is not one.
const HASHTAG = /(?<![\p{L}\p{M}\p{N}_&])#([\p{L}\p{M}\p{N}_]+)/gu;
const HAS_LETTER = /\p{L}/u;
// A mention is "@" + a username, not inside a word or an e-mail address (a@b.com).
const MENTION = /(?<![\p{L}\p{M}\p{N}_.@])@([A-Za-z0-9._]{1,30})(?![A-Za-z0-9._])/gu;

const MAX_REFS = 100;
const MAX_TAG_LENGTH = 100;

/** Case folding for tags: NFKC then lowercase, so "#Sunset", "#SUNSET" and "#ｓｕｎｓｅｔ" are one tag. */
export function foldTag(tag: string): string {
  return tag.normalize('NFKC').toLowerCase();
}

export function parseCaption(text: string): CaptionRefs {
  const hashtags = new Set<string>();
  for (const match of text.matchAll(HASHTAG)) {
    const tag = foldTag(match[1] ?? '');
    if (!HAS_LETTER.test(tag) || [...tag].length > MAX_TAG_LENGTH) continue;
    if (hashtags.size < MAX_REFS) hashtags.add(tag);
  }
  const mentions = new Set<string>();
  for (const match of text.matchAll(MENTION)) {
    const name = (match[1] ?? '').toLowerCase().replace(/\.+$/, '');
    if (name.length > 0 && mentions.size < MAX_REFS) mentions.add(name);
  }
  return { hashtags: [...hashtags], mentionNames: [...mentions] };
}
