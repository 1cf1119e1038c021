import { ShardError, ShardErrorCodes } from './errors.ts';

const SERVICE = /^[a-z][a-z0-9-]{0,49}$/;
const TABLE = /^[a-z_][a-z0-9_]{0,62}$/;

/** Throws unless `service` can prefix schema names (lowercase letters, digits, `-`). */
export function assertServiceName(service: string): void {
  if (!SERVICE.test(service)) {
    throw new ShardError(
      ShardErrorCodes.BadName,
      `service name must be lowercase letters, digits and "-" (at most 50), got ${JSON.stringify(service)}`,
    );
  }
}

/** `<service with - as _>_<shard, 4 digits>`, e.g. `metadata_0007`, `media_processing_0003`. */
export function schemaName(service: string, shard: number): string {
  assertServiceName(service);
  return `${service.replaceAll('-', '_')}_${String(shard).padStart(4, '0')}`;
}

/** Throws unless `name` is a plain lowercase table name (it becomes a quoted identifier). */
export function assertTableName(name: string): void {
  if (!TABLE.test(name)) {
    throw new ShardError(
      ShardErrorCodes.BadName,
      `table name must be a lowercase identifier (a-z, 0-9, _), got ${JSON.stringify(name)}`,
    );
  }
}
