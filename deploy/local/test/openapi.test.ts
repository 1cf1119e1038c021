import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { buildOpenApi, committedOpenApi, OPENAPI_K8S_COPY, type OpenApiDocument } from '../src/openapi.ts';
import { REPO_ROOT } from '../src/service-process.ts';

// The public contract sits beside the repository (../shared/API.md), in CI as on a workstation.
const API_MD = join(REPO_ROOT, '..', 'shared', 'API.md');

interface Call {
  method: string;
  /** OpenAPI form: `/v1/users/{}/follow` (parameter names differ between API.md and the routes). */
  path: string;
  /** The status codes API.md fixes for the call (none: "some 2xx"). */
  statuses: number[];
}

const shape = (path: string) => path.replace(/\{[^}]+\}/g, '{}').replace(/:[A-Za-z]+/g, '{}');

/**
 * The calls of API.md's tables: `` `GET /v1/me` · `PATCH /v1/me` `` rows name several; a call written as
 * a bare `/following` is the previous call's sibling (same method, last segment replaced).
 */
function callsOfApiMd(text: string): Call[] {
  const calls: Call[] = [];
  for (const line of text.split('\n')) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    const [what, answer] = [cells[1] ?? '', cells[2] ?? ''];
    if (!line.startsWith('|') || !what.includes('/v1/')) continue;
    const statuses = [...answer.matchAll(/(?<![\d.-])([1-5]\d\d)(?!\d)/g)].map((m) => Number(m[1]));
    let previous: { method: string; path: string } | undefined;
    for (const [, code] of what.matchAll(/`([^`]+)`/g)) {
      const call = /^(?:(GET|POST|PUT|PATCH|DELETE) )?(\/\S*)$/.exec(code ?? '');
      if (!call?.[2]) continue;
      const method = call[1] ?? previous?.method;
      const path = call[2].startsWith('/v1/') ? call[2] : previous?.path.replace(/\/[^/]+$/, call[2]);
      if (!method || !path) continue;
      previous = { method, path };
      calls.push({ method: method.toLowerCase(), path: shape(path), statuses });
    }
  }
  return calls;
}

const document = (): OpenApiDocument => JSON.parse(committedOpenApi()) as OpenApiDocument;

function operations(doc: OpenApiDocument) {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ method, path, op })),
  );
}

test('the committed document (and its Kubernetes copy) is what `npm run openapi` merges from the routes', async (t) => {
  const fresh = await buildOpenApi();
  t.is(committedOpenApi(), fresh, 'run `npm run openapi` and commit deploy/openapi/openapi.json');
  t.is(readFileSync(OPENAPI_K8S_COPY, 'utf8'), fresh, 'the Kubernetes ConfigMap serves the same document');
});

test('every call of API.md is in the document with the status codes API.md fixes', (t) => {
  if (!existsSync(API_MD)) {
    t.fail(`${API_MD} is missing: the contract lives beside the repository`);
    return;
  }
  const calls = callsOfApiMd(readFileSync(API_MD, 'utf8'));
  t.true(calls.length >= 25, `API.md lists the public calls (found ${calls.length})`);
  const byShape = new Map(operations(document()).map((o) => [`${o.method} ${shape(o.path)}`, o.op]));
  for (const call of calls) {
    const op = byShape.get(`${call.method} ${call.path}`);
    if (!op) {
      t.fail(`${call.method.toUpperCase()} ${call.path} is in API.md but not in the document`);
      continue;
    }
    const listed = Object.keys(op.responses ?? {}).map(Number);
    const name = `${call.method.toUpperCase()} ${call.path}`;
    if (call.statuses.length === 0)
      t.true(
        listed.some((s) => s >= 200 && s < 300),
        `${name}: a 2xx`,
      );
    for (const status of call.statuses) t.true(listed.includes(status), `${name} answers ${status}`);
  }
});

test('every operation has response schemas; a token-bearing one documents 401 and its security', (t) => {
  const all = operations(document());
  t.true(all.length >= 29);
  for (const { method, path, op } of all) {
    const name = `${method.toUpperCase()} ${path}`;
    const responses = Object.entries(op.responses ?? {}) as Array<
      [string, { content?: Record<string, { schema?: unknown }> }]
    >;
    t.true(
      responses.some(([s]) => s.startsWith('2')),
      `${name} has a success reply`,
    );
    for (const [status, reply] of responses) {
      if (status === '204') continue;
      const contents = Object.values(reply.content ?? {});
      t.true(
        contents.length > 0 && contents.every((c) => c.schema !== undefined),
        `${name} ${status} has a schema`,
      );
      if (Number(status) >= 400)
        t.truthy(reply.content?.['application/problem+json'], `${name} ${status} is problem+json`);
    }
    const security = op.security as Array<Record<string, unknown>> | undefined;
    if (security?.some((s) => 'bearer' in s)) t.truthy(op.responses?.['401'], `${name} documents 401`);
    t.truthy(op.summary, `${name} has a summary`);
    t.true((op.tags ?? []).length > 0, `${name} has tags`);
  }
  t.false(
    Object.keys(document().paths).some((p) => !p.startsWith('/v1/')),
    'only the public API',
  );
});
