import { describeRoutes, schemaOnly } from '@instantpost/http';
import { type RouteDeps, registerRoutes } from './routes/index.ts';

/** metadata's OpenAPI document from its routes alone (no clients): `node src/openapi.ts` prints it. */
export const openApiDocument = () =>
  describeRoutes('metadata', (app) => registerRoutes(app, schemaOnly<RouteDeps>()));

if (import.meta.main) process.stdout.write(`${JSON.stringify(await openApiDocument())}\n`);
