/**
 * What code outside upload may build it from (`@instantpost/upload/harness`): benchmarks set up its
 * schemas before starting the service as a process. Not imported by the service.
 */

/** The service's migrations directory (setupService, openTestService). */
export const migrations = new URL('./sql/migrations/', import.meta.url);
