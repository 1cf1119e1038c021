import type { FastifyInstance } from 'fastify';
import { accountRoutes } from './accounts.ts';
import { followRoutes } from './follows.ts';
import { postRoutes } from './posts.ts';

export type RouteDeps = Parameters<typeof accountRoutes>[1] &
  Parameters<typeof followRoutes>[1] &
  Parameters<typeof postRoutes>[1];

/** Every public route of metadata (its app and its OpenAPI document register the same). */
export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  accountRoutes(app, deps);
  followRoutes(app, deps);
  postRoutes(app, deps);
}
