import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectPostgres, parseShardMap } from '@instantpost/shards';
import { openNamespace, stopTestInfra, type TestNamespace } from '@instantpost/testing';
import test from 'ava';
import { shardMapViaLocalSocket, viaLocalSocket } from '../src/postgres-socket.ts';

let ns: TestNamespace;
let socketDir: string;
test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  const sql = connectPostgres(ns.infra.postgresUrl, { max: 1, onnotice: () => {} });
  const [row] = await sql<{ dirs: string }[]>`select current_setting('unix_socket_directories') as dirs`;
  await sql.end();
  socketDir = row?.dirs.split(',')[0]?.trim() ?? '';
});
test.after.always(async () => {
  await ns?.close();
  await stopTestInfra();
});

async function serverAddress(url: string): Promise<string | null> {
  const sql = connectPostgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ addr: string | null }[]>`select inet_server_addr()::text as addr`;
    return row?.addr ?? null;
  } finally {
    await sql.end();
  }
}

test("npm start's map: this machine's databases go through Postgres's Unix socket, shard ranges kept", async (t) => {
  t.not(socketDir, '', 'Postgres reports a socket directory');
  const [a, b] = ns.postgres.databases.map((db) => {
    const u = new URL(ns.infra.postgresUrl);
    u.pathname = `/${db}`;
    return u.toString();
  }) as [string, string];
  const text = await shardMapViaLocalSocket(`0-7=${a};8-15=${b}`, [
    join(tmpdir(), 'no-postgres-here'),
    socketDir,
  ]);
  const map = parseShardMap(text);
  t.deepEqual(
    map.ranges.map((r) => [r.from, r.to]),
    [
      [0, 7],
      [8, 15],
    ],
  );
  for (const r of map.ranges) {
    t.is(new URL(r.url).searchParams.get('host'), socketDir, r.url);
    t.is(await serverAddress(r.url), null, 'a Unix socket connection');
  }
});

test('a URL stays as it is when no socket answers, when it names another host, or when it already says how', async (t) => {
  const url = ns.infra.postgresUrl;
  const empty = mkdtempSync(join(tmpdir(), 'instantpost-no-socket-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  t.is(await viaLocalSocket(url, [empty]), url, 'no socket in the directory');
  const remote = 'postgres://app@db.internal.example:5432/instantpost_0';
  t.is(await viaLocalSocket(remote, [socketDir]), remote, 'another machine');
  const chosen = `${url}?host=${encodeURIComponent(socketDir)}`;
  t.is(await viaLocalSocket(chosen, [empty]), chosen, 'host already chosen');
  t.is(await serverAddress(url), '127.0.0.1/32', 'the unchanged URL still goes over TCP');
});
