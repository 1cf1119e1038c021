import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { connectPostgres, createShards, ensureDatabases, parseShardMap } from '../src/index.ts';
import { withDirect } from './helpers.ts';

let ns: TestNamespace;
test.before(async () => {
  ns = await openNamespace();
});
test.after.always(async () => {
  await ns?.close();
  await stopTestInfra();
});

/** The server's first Unix socket directory, as it reports it over TCP. */
async function socketDirectory(url: string): Promise<string> {
  const [row] = await withDirect(
    url,
    (sql) => sql<{ dirs: string }[]>`select current_setting('unix_socket_directories') as dirs`,
  );
  const dir = row?.dirs.split(',')[0]?.trim();
  if (!dir) throw new Error('this Postgres listens on no Unix socket');
  return dir;
}

/** The same URL with libpq's `host=<socket directory>`. */
function viaSocket(url: string, dir: string): string {
  const u = new URL(url);
  u.searchParams.set('host', dir);
  return u.toString();
}

test.serial(
  'a URL with host=<socket directory> reaches the database through the Unix socket, the same URL without it through TCP',
  async (t) => {
    const tcp = await ns.postgres.createDatabase();
    const socket = viaSocket(tcp, await socketDirectory(tcp));
    for (const [url, expected] of [
      [socket, null],
      [tcp, '127.0.0.1/32'],
    ] as const) {
      const sql = connectPostgres(url, { max: 1, onnotice: () => {} });
      try {
        // inet_server_addr() is null on a Unix socket connection
        const [row] = await sql<{ addr: string | null; db: string }[]>`
        select inet_server_addr()::text as addr, current_database() as db`;
        t.is(row?.addr, expected, url);
        t.is(row?.db, new URL(tcp).pathname.slice(1));
      } finally {
        await sql.end();
      }
    }
  },
);

test.serial('a shard map of socket URLs: databases created, shards queried through the socket', async (t) => {
  const admin = ns.infra.postgresUrl;
  const dir = await socketDirectory(admin);
  const name = `${new URL(await ns.postgres.createDatabase()).pathname.slice(1)}_sock`;
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const map = parseShardMap(`0-3=${viaSocket(url.toString(), dir)}`);
  t.deepEqual(await ensureDatabases(map, viaSocket(admin, dir)), [name]);
  try {
    const shards = createShards({ service: 'sockettest', map, poolMax: 1 });
    try {
      const [row] = await shards.forShard(2).sql<
        { addr: string | null }[]
      >`select inet_server_addr()::text as addr`;
      t.is(row?.addr, null);
    } finally {
      await shards.close();
    }
  } finally {
    await withDirect(admin, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  }
});
