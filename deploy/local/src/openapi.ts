import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { ServiceName } from '@instantpost/chassis';
import { REPO_ROOT, serviceDir } from './service-process.ts';

/**
 * The gateway's one OpenAPI document of the public API (`GET /v1/openapi.json`), merged from the services'
 * own documents. Each service prints its document from its routes alone (`src/openapi.ts`: the same route
 * registration as its app, no infrastructure), so the merge needs no running stack.
 *
 *   npm run openapi   writes deploy/openapi/openapi.json and its copy k8s/base/media-cache/openapi.json
 *                     (commit both; a test checks they are current)
 */

/** The services with public routes (media-processing has health and metrics only). */
export const PUBLIC_API_SERVICES = [
  'upload',
  'metadata',
  'feed',
  'notification',
] as const satisfies readonly ServiceName[];

/** The committed document, served by the local gateway. */
export const OPENAPI_FILE = join(REPO_ROOT, 'deploy/openapi/openapi.json');
/** Its copy in the media cache's ConfigMap (kustomize reads files below its own directory only). */
export const OPENAPI_K8S_COPY = join(REPO_ROOT, 'k8s/base/media-cache/openapi.json');

interface Operation {
  responses?: Record<string, unknown>;
  tags?: string[];
  [key: string]: unknown;
}

/** An OpenAPI 3 document, as far as the merge reads it. */
export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  tags?: Array<{ name: string }>;
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown>; securitySchemes?: Record<string, unknown> };
}

const run = promisify(execFile);

/** One service's own document, printed by its `src/openapi.ts` in a child process. */
export async function serviceDocument(service: ServiceName): Promise<OpenApiDocument> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/openapi.ts'], {
    cwd: serviceDir(service),
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as OpenApiDocument;
}

/** The document itself, served by the gateway rather than a service. */
const SELF: Operation = {
  summary: 'This document: the whole public API',
  tags: ['gateway'],
  responses: {
    200: {
      description: 'OpenAPI 3 document',
      content: { 'application/json': { schema: { type: 'object' } } },
    },
  },
};

function mergeNamed(into: Record<string, unknown>, from: Record<string, unknown>, what: string): void {
  for (const [name, value] of Object.entries(from)) {
    const known = into[name];
    if (known !== undefined && JSON.stringify(known) !== JSON.stringify(value)) {
      throw new Error(`openapi: two services define ${what} "${name}" differently`);
    }
    into[name] = value;
  }
}

/**
 * One document from the services' documents: their public `/v1/...` operations (an operation in two
 * services is an error), their component schemas and security schemes (a name must mean one thing).
 */
export function mergeDocuments(documents: ReadonlyArray<OpenApiDocument>): OpenApiDocument {
  const paths: Record<string, Record<string, Operation>> = { '/v1/openapi.json': { get: SELF } };
  const schemas: Record<string, unknown> = {};
  const securitySchemes: Record<string, unknown> = {};
  for (const document of documents) {
    for (const [path, operations] of Object.entries(document.paths)) {
      if (!path.startsWith('/v1/')) continue;
      const merged = paths[path] ?? {};
      for (const [method, operation] of Object.entries(operations)) {
        if (merged[method]) throw new Error(`openapi: ${method.toUpperCase()} ${path} is defined twice`);
        merged[method] = operation;
      }
      paths[path] = merged;
    }
    mergeNamed(schemas, document.components?.schemas ?? {}, 'the schema');
    mergeNamed(securitySchemes, document.components?.securitySchemes ?? {}, 'the security scheme');
  }
  const sortedPaths = Object.fromEntries(Object.entries(paths).sort(([a], [b]) => (a < b ? -1 : 1)));
  const tags = [
    ...new Set(Object.values(paths).flatMap((ops) => Object.values(ops).flatMap((o) => o.tags ?? []))),
  ];
  return {
    openapi: documents[0]?.openapi ?? '3.0.3',
    info: {
      title: 'InstantPost public API',
      version: '1.0.0',
      description:
        'Every public operation of the InstantPost services, merged from their own documents (`npm run openapi`). ' +
        'Errors are application/problem+json; ids are decimal strings; lists page with `cursor` and `limit`.',
    },
    tags: tags.sort().map((name) => ({ name })),
    paths: sortedPaths,
    components: {
      schemas: Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => (a < b ? -1 : 1))),
      securitySchemes,
    },
  };
}

/** The merged document as it is committed: two-space JSON and a final newline. */
export async function buildOpenApi(): Promise<string> {
  const documents = await Promise.all(PUBLIC_API_SERVICES.map((s) => serviceDocument(s)));
  return `${JSON.stringify(mergeDocuments(documents), null, 2)}\n`;
}

export function committedOpenApi(): string {
  return readFileSync(OPENAPI_FILE, 'utf8');
}

if (import.meta.main) {
  const text = await buildOpenApi();
  for (const file of [OPENAPI_FILE, OPENAPI_K8S_COPY]) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  const document = JSON.parse(text) as OpenApiDocument;
  const operations = Object.values(document.paths).flatMap((ops) => Object.keys(ops)).length;
  process.stdout.write(`${OPENAPI_FILE}: ${operations} operations\n`);
}
