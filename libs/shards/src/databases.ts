import { ShardError, ShardErrorCodes } from './errors.ts';
import { databasesOf, type ShardMap } from './shard-map.ts';
import { connectPostgres, databaseNameOf, redactUrl } from './urls.ts';

const serverOf = (url: URL) => `${url.hostname}:${url.port || '5432'}`;

/**
 * Creates the physical databases of `map` that do not exist yet, connecting with `adminUrl` (a role
 * allowed to `CREATE DATABASE`, e.g. `postgres://postgres@127.0.0.1:5432/postgres`). Every database of
 * the map must be on the admin URL's server. Safe to run concurrently. Returns the names it created.
 */
export async function ensureDatabases(map: ShardMap, adminUrl: string): Promise<string[]> {
  const admin = new URL(adminUrl);
  const names: string[] = [];
  for (const { url } of databasesOf(map)) {
    if (serverOf(new URL(url)) !== serverOf(admin)) {
      throw new ShardError(
        ShardErrorCodes.OtherServer,
        `${redactUrl(url)} is not on the admin server ${serverOf(admin)}: create it there by hand`,
      );
    }
    const name = databaseNameOf(url);
    if (!names.includes(name)) names.push(name);
  }
  const sql = connectPostgres(adminUrl, { max: 1, onnotice: () => {} });
  const created: string[] = [];
  try {
    for (const name of names) {
      const [found] = await sql`select 1 from pg_database where datname = ${name}`;
      if (found) continue;
      try {
        await sql.unsafe(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
        created.push(name);
      } catch (error) {
        // Another process created it between our check and our CREATE: that is what we wanted.
        const code = (error as { code?: string }).code;
        if (code !== '42P04' && code !== '23505') throw error;
      }
    }
  } finally {
    await sql.end();
  }
  return created;
}
