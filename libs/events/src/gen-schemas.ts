/**
 * Writes the JSON Schema of every event, generated from the TypeBox contracts, to
 * `libs/events/schemas/<subject>.v1.json` (`npm run -w @instantpost/events gen`). The files are
 * committed so tools outside TypeScript (the NATS CLI, other languages, reviewers) can read them;
 * a test fails when they are stale.
 */
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EVENT_SUBJECTS, SCHEMA_VERSION } from './contracts/index.ts';
import { envelopeSchema } from './envelope.ts';

/** Where the generated files live. */
export const SCHEMAS_DIR = fileURLToPath(new URL('../schemas', import.meta.url));

/** The file name of a subject's schema, e.g. `post.published.v1.json`. */
export function schemaFileName(subject: string, version = SCHEMA_VERSION): string {
  return `${subject}.v${version}.json`;
}

/** File name → file content of every schema, exactly as `gen` writes them. */
export function renderSchemas(): Map<string, string> {
  const files = new Map<string, string>();
  for (const subject of EVENT_SUBJECTS) {
    const document = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: `urn:instantpost:event:${subject}:v${SCHEMA_VERSION}`,
      title: `${subject} v${SCHEMA_VERSION}`,
      description: `A CloudEvents 1.0 structured JSON event of type "${subject}", published on the NATS subject "${subject}". Generated from libs/events/src/contracts by gen-schemas.ts: do not edit.`,
      ...envelopeSchema(subject),
    };
    files.set(schemaFileName(subject), `${JSON.stringify(document, null, 2)}\n`);
  }
  return files;
}

/** Writes every schema and removes files of subjects that no longer exist. */
export function writeSchemas(dir = SCHEMAS_DIR): string[] {
  const files = renderSchemas();
  for (const existing of readdirSync(dir)) {
    if (existing.endsWith('.json') && !files.has(existing)) rmSync(join(dir, existing));
  }
  for (const [name, content] of files) writeFileSync(join(dir, name), content);
  return [...files.keys()];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const written = writeSchemas();
  process.stdout.write(`wrote ${written.length} schemas to ${SCHEMAS_DIR}\n`);
}
