/**
 * What code outside media-processing may build it from (`@instantpost/media-processing/harness`):
 * benchmarks start the app in process on their own namespace and time the image pipeline alone. Not
 * imported by the service.
 */
export { buildApp } from './app.ts';
export { configSpec } from './config.ts';
export { renderImage } from './domain/image.ts';

/** The service's migrations directory (setupService, openTestService). */
export const migrations = new URL('./sql/migrations/', import.meta.url);
