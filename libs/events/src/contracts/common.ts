import { type TString, Type } from '@sinclair/typebox';

/**
 * An entity id: Instagram's 64-bit layout as a canonical decimal string (no sign, no leading zero
 * except "0" itself). JSON numbers lose digits past 2^53, so ids are never numbers in events.
 */
export const Id = Type.String({
  pattern: '^(0|[1-9][0-9]{0,18})$',
  maxLength: 19,
  description: 'A 64-bit id as a decimal string',
  examples: ['3379187474022400001'],
});

/** An RFC 3339 timestamp with a time zone (what `Date.prototype.toISOString()` writes). */
export const Timestamp = Type.String({
  pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$',
  maxLength: 40,
  description: 'RFC 3339 timestamp',
});

/** A bounded free-text string (captions, bios, reasons). */
export const Text = (maxLength: number, minLength = 0, description?: string): TString =>
  Type.String({ minLength, maxLength, ...(description ? { description } : {}) });

/** A username as the API accepts it: 1-30 of `[a-z0-9._]`. */
export const Username = Type.String({ pattern: '^[a-z0-9._]{1,30}$', maxLength: 30 });

/** Display names are free text; the bound is generous so a valid profile never produces an invalid event. */
export const DisplayName = Text(100, 0, 'Display name, up to 100 characters');

/** A caption (API: at most 2200 characters). */
export const Caption = Text(2200, 0, 'Caption, up to 2200 characters');

/** Alternative text for accessibility. */
export const AltText = Text(1000, 0, 'Alternative text, up to 1000 characters');

/** A mentioned account, resolved by the producer (metadata owns usernames) so consumers need no lookup. */
export const Mention = Type.Object(
  { userId: Id, username: Username },
  { description: 'An account mentioned with @username' },
);

/** Mentions in a caption or comment (a 2200-character text cannot hold more than ~70 distinct ones). */
export const Mentions = Type.Array(Mention, { maxItems: 100 });

/** Hashtags without the `#`, lowercased by the producer. */
export const Hashtags = Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 100 });
