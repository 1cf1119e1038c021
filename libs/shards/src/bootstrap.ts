import { nextIdFunctionSql } from '@instantpost/ids';

/**
 * What the migration runner creates in every logical shard schema before any migration file: the
 * schema, `next_id()` with its sequences (see `nextIdFunctionSql`), and the table recording applied
 * migrations. Idempotent.
 */
export function bootstrapSql(schema: string, shard: number): string {
  return `
CREATE SCHEMA IF NOT EXISTS "${schema}";
${nextIdFunctionSql({ schema, shard })}
CREATE TABLE IF NOT EXISTS "${schema}".schema_migrations (
  source     text        NOT NULL,
  version    integer     NOT NULL,
  name       text        NOT NULL,
  checksum   text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, version)
);
`;
}
