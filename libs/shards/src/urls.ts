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
