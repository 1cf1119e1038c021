import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerAuth } from './auth.ts';
import { MULTIPART_BODY, ProblemSchema } from './schemas.ts';
import { registerValidation } from './validation.ts';

/** An OpenAPI 3 document as `@fastify/swagger` gives it (plain JSON). */
export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, unknown>>;
  components?: { schemas?: Record<string, unknown>; securitySchemes?: Record<string, unknown> };
  [key: string]: unknown;
}

/** Schemas, validation and the OpenAPI generator: the same in a serving app and a schema-only one. */
export async function registerSchemas(app: FastifyInstance, service: string): Promise<void> {
  registerValidation(app);
  app.addSchema(ProblemSchema);
  await app.register(swagger, {
    openapi: {
      info: { title: `InstantPost ${service}`, version: '1.0.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    // A multipart route's fields become its documented request body (never validated: they stream).
    transform: ({ schema, url }) => {
      const fields = (schema as Record<string, unknown> | undefined)?.[MULTIPART_BODY];
      return { schema: fields === undefined ? schema : { ...schema, body: fields }, url };
    },
    // Shared schemas keep their $id as their component name (`#/components/schemas/Problem`).
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  });
}

/**
 * Stands in for a service's route dependencies when only the routes' schemas are wanted: reading any
 * property gives another stand-in, calling one throws. Handlers never run in a schema-only app.
 */
export function schemaOnly<T>(): T {
  const standIn: object = new Proxy(() => undefined, {
    get: (_target, key) => (key === 'then' ? undefined : standIn),
    apply: () => {
      throw new Error('a schema-only app has no route dependencies');
    },
  });
  return standIn as T;
}

/**
 * A service's OpenAPI document without its infrastructure: its routes are registered on an app that has
 * the same schemas, validation and auth hooks as a serving one, but no clients (`deps` from `schemaOnly`).
 */
export async function describeRoutes(
  service: string,
  register: (app: FastifyInstance) => void | Promise<void>,
): Promise<OpenApiDocument> {
  const app = Fastify({ logger: false });
  try {
    await registerSchemas(app, service);
    registerAuth(app, undefined);
    await register(app);
    await app.ready();
    return app.swagger() as unknown as OpenApiDocument;
  } finally {
    await app.close();
  }
}
