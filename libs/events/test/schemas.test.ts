import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { EVENT_SUBJECTS, renderSchemas, SCHEMAS_DIR, schemaFileName } from '../src/index.ts';

test('the committed JSON Schemas match the TypeBox contracts (run `npm run -w @instantpost/events gen`)', (t) => {
  const expected = renderSchemas();
  const committed = readdirSync(SCHEMAS_DIR).filter((f) => f.endsWith('.json'));
  t.deepEqual(committed.sort(), [...expected.keys()].sort(), 'one file per subject, no leftovers');
  for (const [name, content] of expected) {
    t.is(readFileSync(join(SCHEMAS_DIR, name), 'utf8'), content, `${name} is stale`);
  }
});

test('each schema is a versioned JSON Schema whose type is its subject', (t) => {
  for (const subject of EVENT_SUBJECTS) {
    const schema = JSON.parse(readFileSync(join(SCHEMAS_DIR, schemaFileName(subject)), 'utf8')) as {
      $id: string;
      properties: { type: { const: string } };
      required: string[];
    };
    t.is(schema.$id, `urn:instantpost:event:${subject}:v1`);
    t.is(schema.properties.type.const, subject);
    for (const attr of ['specversion', 'id', 'source', 'type', 'time', 'data'])
      t.true(schema.required.includes(attr));
  }
});
