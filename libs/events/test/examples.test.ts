import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { EVENT_SUBJECTS, parseEvent } from '../src/index.ts';

const EXAMPLES_DIR = fileURLToPath(new URL('../../../deploy/nats/examples', import.meta.url));

test('there is one example per subject under deploy/nats/examples', (t) => {
  const files = readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.json'));
  t.deepEqual(files.sort(), EVENT_SUBJECTS.map((s) => `${s}.json`).sort());
});

for (const subject of EVENT_SUBJECTS) {
  test(`deploy/nats/examples/${subject}.json is a valid ${subject} event`, (t) => {
    const text = readFileSync(join(EXAMPLES_DIR, `${subject}.json`), 'utf8');
    const result = parseEvent(text, { expectedType: subject });
    t.true(result.ok, result.ok ? '' : result.error.message);
  });
}
