import { describeRoutes, schemaOnly } from '@instantpost/http';
import type { FeedReader } from './domain/feed.ts';
import { feedRoutes } from './routes/feed.ts';

/** feed's OpenAPI document from its routes alone (no clients): `node src/openapi.ts` prints it. */
export const openApiDocument = () =>
  describeRoutes('feed', (app) => feedRoutes(app, schemaOnly<FeedReader>()));

if (import.meta.main) process.stdout.write(`${JSON.stringify(await openApiDocument())}\n`);
