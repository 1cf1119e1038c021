import test from 'ava';
import { parseCaption } from '../src/domain/caption.ts';

test('hashtags are Unicode letters, case-folded and unique; mentions are usernames, unique', (t) => {
  t.deepEqual(parseCaption('#Sunset #sunset @alice @nobody'), {
    hashtags: ['sunset'],
    mentionNames: ['alice', 'nobody'],
  });
  t.deepEqual(parseCaption('#Café #CAFÉ #東京 #ΣΟΦΙΑ #ｓｕｎ #over_the_top').hashtags, [
    'café',
    '東京',
    'σοφια',
    'sun',
    'over_the_top',
  ]);
  t.deepEqual(parseCaption('#123 #2024 # #!').hashtags, [], 'a tag needs a letter');
  t.deepEqual(parseCaption('mail me at bob@example.com, cc @Carol. and @dave_99!').mentionNames, [
    'carol',
    'dave_99',
  ]);
  t.deepEqual(parseCaption('a#b c&#35;d').hashtags, [], 'no tags inside words or entities');
  t.deepEqual(parseCaption(`@${'x'.repeat(31)}`).mentionNames, [], 'too long to be a username');
  t.deepEqual(parseCaption("#a'--; DROP TABLE posts").hashtags, ['a']);
});

test('a caption yields at most 100 tags and 100 mentions', (t) => {
  const text = Array.from({ length: 150 }, (_, i) => `#tag${i} @user${i}`).join(' ');
  const refs = parseCaption(text);
  t.is(refs.hashtags.length, 100);
  t.is(refs.mentionNames.length, 100);
});
