import { describeRoutes, schemaOnly } from '@instantpost/http';
import type { Reader } from './domain/reader.ts';
import { registerNotificationRoutes } from './routes/notifications.ts';
import { registerStreamRoute } from './routes/stream.ts';

/** notification's OpenAPI document from its routes alone (no clients): `node src/openapi.ts` prints it. */
export const openApiDocument = () =>
  describeRoutes('notification', (app) => {
    registerNotificationRoutes(app, schemaOnly<Reader>());
    registerStreamRoute(app, schemaOnly<Parameters<typeof registerStreamRoute>[1]>());
  });

if (import.meta.main) process.stdout.write(`${JSON.stringify(await openApiDocument())}\n`);
