import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AnyCloudEvent, createEvent, type EventData, type EventSubject } from '@instantpost/events';
import { createLogger } from '@instantpost/telemetry';
import { openNamespace, sleep, type TestNamespace, waitFor } from '@instantpost/testing';
import { type ConnectionOptions, connect, type JetStreamManager, type NatsConnection } from 'nats';
import postgres from 'postgres';
import {
  busMigrations,
  type ConsumerSettings,
  type DeadLetter,
  ensureStreams,
  type OutboxShard,
  parseDeadLetter,
  streamNameFor,
} from '../src/index.ts';

export { sleep, waitFor };

/** Tests log nothing. */
export const silent = createLogger({ service: 'bus-test', level: 'silent' });

/** Delivery settings that make retries and redeliveries quick. */
export const fast: ConsumerSettings = {
  ackWaitMs: 2000,
  maxDeliver: 3,
  retryBackoff: { initialMs: 50, maxMs: 400 },
  pullExpiresMs: 1000,
};

/**
 * Applies the bus migrations to a fresh schema the way the shard migration runner does
 * (`SET LOCAL search_path`), since the runner lives in another package.
 */
export async function migrateShard(sql: postgres.Sql, schema: string): Promise<void> {
  await sql.unsafe(`CREATE SCHEMA "${schema}"`);
  const files = readdirSync(busMigrations.dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  await sql.begin(async (tx) => {
    await tx.unsafe(`SET LOCAL search_path TO "${schema}"`);
    for (const file of files) await tx.unsafe(readFileSync(join(busMigrations.dir, file), 'utf8'));
  });
}

/** One test file's infrastructure: a namespace, one database, a NATS connection, fresh prefixes and shards. */
export interface Fixture {
  readonly ns: TestNamespace;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly sql: postgres.Sql;
  readonly databaseUrl: string;
  /** A prefix of its own (streams created), so tests of one file never see each other's events. */
  isolate(): Promise<string>;
  /** A new shard schema with the bus tables (and an `effects` table for handlers to write). */
  shard(sql?: postgres.Sql): Promise<OutboxShard>;
  /** A NATS connection closed with the fixture. */
  connect(options?: ConnectionOptions): Promise<NatsConnection>;
  close(): Promise<void>;
}

export async function openFixture(): Promise<Fixture> {
  const ns = await openNamespace({ databases: 1 });
  const dbName = ns.postgres.databases[0] as string;
  const url = new URL(ns.infra.postgresUrl);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  const sql = postgres(databaseUrl, { max: 3, onnotice: () => {} });
  const connections: NatsConnection[] = [];
  const nc = await connect({ servers: ns.nats.servers });
  connections.push(nc);
  const jsm = await nc.jetstreamManager();
  let prefixes = 0;
  let shards = 0;
  return {
    ns,
    nc,
    jsm,
    sql,
    databaseUrl,
    async isolate() {
      // a sub-prefix of the namespace, so ns.close() deletes its streams too
      const prefix = `${ns.nats.prefix}_${++prefixes}`;
      await ensureStreams(jsm, { prefix, duplicateWindowMs: 60_000 });
      return prefix;
    },
    async shard(on = sql) {
      const schema = `shard_${String(++shards).padStart(4, '0')}`;
      await migrateShard(on, schema);
      await on.unsafe(
        `CREATE TABLE "${schema}".effects (event_id text NOT NULL, consumer text NOT NULL, at timestamptz DEFAULT now())`,
      );
      return { schema, sql: on };
    },
    async connect(options = {}) {
      const c = await connect({ servers: ns.nats.servers, ...options });
      connections.push(c);
      return c;
    },
    async close() {
      for (const c of connections) if (!c.isClosed()) await c.close();
      await sql.end();
      await ns.close();
    },
  };
}

const EXAMPLES_DIR = fileURLToPath(new URL('../../../deploy/nats/examples', import.meta.url));

/** The operator example of `subject` as text (what `nats pub <subject> "$(cat file)"` sends). */
export function exampleText(subject: EventSubject): string {
  return readFileSync(join(EXAMPLES_DIR, `${subject}.json`), 'utf8');
}

/** A fresh valid event of `subject` (the example's data with a new id), optionally with other data. */
export function sampleEvent<S extends EventSubject>(subject: S, data?: Partial<EventData<S>>): AnyCloudEvent {
  const example = JSON.parse(exampleText(subject)) as { data: EventData<S> };
  return createEvent(subject, { ...example.data, ...data } as EventData<S>, {
    source: '/test',
  }) as AnyCloudEvent;
}

/** Every dead letter stored so far under `prefix`, with its NATS subject and headers. */
export async function readDeadLetters(
  jsm: JetStreamManager,
  prefix: string,
): Promise<{ subject: string; letter: DeadLetter; headers: Record<string, string> }[]> {
  const stream = streamNameFor('DLQ', prefix);
  const info = await jsm.streams.info(stream);
  const letters = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const stored = await jsm.streams.getMessage(stream, { seq });
    const headers: Record<string, string> = {};
    for (const key of stored.header?.keys() ?? []) headers[key] = stored.header.get(key);
    letters.push({ subject: stored.subject, letter: parseDeadLetter(stored.data), headers });
  }
  return letters;
}

/** Messages stored in one of the prefix's streams. */
export async function storedCount(
  jsm: JetStreamManager,
  prefix: string,
  stream: 'MEDIA' | 'SOCIAL',
): Promise<number> {
  return (await jsm.streams.info(streamNameFor(stream, prefix))).state.messages;
}

/** Rows of `effects` per event id in a shard. */
export async function effects(shard: OutboxShard): Promise<Map<string, number>> {
  const rows = await shard.sql.unsafe<{ event_id: string; n: string }[]>(
    `SELECT event_id, count(*) AS n FROM "${shard.schema}".effects GROUP BY event_id`,
  );
  return new Map(rows.map((r) => [r.event_id, Number(r.n)]));
}

/**
 * A TCP proxy that can stall (stop forwarding server → client bytes without closing anything), to make
 * a NATS client miss its consumer heartbeats while its connection stays up.
 */
export async function startStallProxy(
  targetPort: number,
): Promise<{ port: number; stall(): void; resume(): void; close(): Promise<void> }> {
  let stalled = false;
  const held: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (stalled) held.push(() => client.write(chunk));
      else client.write(chunk);
    });
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    stall: () => {
      stalled = true;
    },
    resume: () => {
      stalled = false;
      for (const flush of held.splice(0)) flush();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
