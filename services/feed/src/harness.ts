/**
 * What code outside feed may build it from (`@instantpost/feed/harness`): benchmarks start the app in
 * process on their own namespace and read the timelines' Redis layout. Not imported by the service.
 */
export { buildApp } from './app.ts';
export { configSpec } from './config.ts';
export { createFeedDomain } from './domain/service.ts';
export { encodeMember, keys } from './store/keys.ts';

/** The service's migrations directory (setupService, openTestService). */
export const migrations = new URL('./sql/migrations/', import.meta.url);
