/**
 * What code outside notification may build it from (`@instantpost/notification/harness`): benchmarks
 * start the app in process on their own namespace. Not imported by the service.
 */
export { buildApp } from './app.ts';
export { configSpec } from './config.ts';

/** The service's migrations directory (setupService, openTestService). */
export const migrations = new URL('./sql/migrations/', import.meta.url);
