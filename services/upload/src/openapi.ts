import { describeRoutes, schemaOnly } from '@instantpost/http';
import { type MediaRoutesDeps, registerMediaRoutes } from './routes/media.ts';

/** upload's OpenAPI document from its routes alone (no clients): `node src/openapi.ts` prints it. */
export const openApiDocument = () =>
  describeRoutes('upload', (app) => registerMediaRoutes(app, schemaOnly<MediaRoutesDeps>()));

if (import.meta.main) process.stdout.write(`${JSON.stringify(await openApiDocument())}\n`);
