import postgres from 'postgres';

/** The URL with its password replaced by `***`, for logs and messages. Non-URLs come back unchanged. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password === '') return text;
    url.password = '***';
    return url.toString();
  } catch {
    return text.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  }
}

/** The database name in a Postgres URL's path (`postgres://host/db` → `db`). */
export function databaseNameOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}

/** postgres.js's options, as `connectPostgres` takes them. */
export type PostgresOptions = NonNullable<Parameters<typeof postgres>[1]>;

/**
 * A postgres.js pool for `url`. libpq's `host` query parameter naming a Unix socket directory
 * (`postgres://postgres@localhost:5432/db?host=/var/run/postgresql`) connects through that socket, which on
 * one machine costs less per statement than loopback TCP; postgres.js would otherwise send `host` to the
 * server as a setting, which refuses it.
 */
export function connectPostgres(url: string, options: PostgresOptions): postgres.Sql {
  const parsed = new URL(url);
  const socketDir = parsed.searchParams.get('host');
  if (socketDir === null) return postgres(url, options);
  parsed.searchParams.delete('host');
  return postgres(parsed.toString(), { ...options, host: socketDir });
}
