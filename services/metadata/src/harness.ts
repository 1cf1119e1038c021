/**
 * What code outside metadata may use of it (`@instantpost/metadata/harness`): benchmarks measure the
 * post → author map's Redis layout. Not imported by the service.
 */
export { postAuthorMap } from './store/cache.ts';
