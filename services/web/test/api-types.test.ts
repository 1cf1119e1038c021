import { readFileSync } from 'node:fs';
import test from 'ava';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';

const DOCUMENT = new URL('../../../deploy/openapi/openapi.json', import.meta.url);
const GENERATED = new URL('../generated/api-schema.ts', import.meta.url);

test('the API types are generated from the committed OpenAPI document (npm run gen -w @instantpost/web)', async (t) => {
  const fresh = COMMENT_HEADER + astToString(await openapiTS(DOCUMENT));
  t.is(
    readFileSync(GENERATED, 'utf8'),
    fresh,
    'generated/api-schema.ts is stale: run npm run gen -w @instantpost/web',
  );
});
