import { createPublisher, natsSubjectFor, type StreamName, streamNameFor } from '@instantpost/bus';
import { makeTestKeys, openTestService, type TestKeys, type TestService } from '@instantpost/chassis/testing';
import type { ConfigOf } from '@instantpost/config';
import { type AnyCloudEvent, createEvent, type EventData } from '@instantpost/events';
import { shardOf } from '@instantpost/ids';
import { openNamespace, stopTestInfra, type TestNamespace, waitFor } from '@instantpost/testing';
import type { Msg, Subscription } from 'nats';
import { buildApp } from '../src/app.ts';
import { configSpec } from '../src/config.ts';

export { waitFor };

export type Metadata = TestService<ConfigOf<typeof configSpec>>;

export interface Fixture {
  ns: TestNamespace;
  keys: TestKeys;
  svc: Metadata;
  close(): Promise<void>;
}

export const MEDIA_BASE_URL = 'http://cdn.test/media';

/** A metadata service on its own namespace (two physical databases: shards 0-7 and 8-15). */
export async function openMetadata(
  env: Record<string, string> = {},
  /** Variables that depend on the namespace (e.g. REDIS_URL through a test's TCP proxy). */
  envFor?: (ns: TestNamespace) => Promise<Record<string, string>>,
): Promise<Fixture> {
  const ns = await openNamespace({ databases: 2 });
  const keys = makeTestKeys();
  const svc = await openTestService({
    service: 'metadata',
    ns,
    keys,
    spec: configSpec,
    migrations: new URL('../src/sql/migrations/', import.meta.url),
    build: buildApp,
    // Tests sign many people up from one address; the sign-up limit's own test sets it low again.
    env: { MEDIA_BASE_URL, SIGNUP_MAX_PER_ADDRESS: '100000', ...env, ...(await envFor?.(ns)) },
  });
  return {
    ns,
    keys,
    svc,
    close: async () => {
      await svc.close();
      await ns.close();
      await stopTestInfra();
    },
  };
}

export interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read reply bodies field by field and assert on them
  body: any;
  headers: Record<string, unknown>;
}

/** One HTTP call through app.inject. */
export async function call(
  svc: Metadata,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  options: {
    token?: string;
    body?: unknown;
    raw?: string | Buffer;
    headers?: Record<string, string>;
    /** The peer address of the connection (default 127.0.0.1, which is a trusted proxy). */
    remoteAddress?: string;
  } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let payload: string | Buffer | undefined;
  if (options.raw !== undefined) {
    payload = options.raw;
    headers['content-type'] ??= 'application/json';
  } else if (options.body !== undefined) {
    payload = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const res = await svc.app.inject({
    method,
    url,
    headers,
    ...(payload === undefined ? {} : { payload }),
    ...(options.remoteAddress === undefined ? {} : { remoteAddress: options.remoteAddress }),
  });
  let body: unknown;
  try {
    body = res.body === '' ? undefined : JSON.parse(res.body);
  } catch {
    body = res.body;
  }
  return { status: res.statusCode, body, headers: res.headers };
}

export interface User {
  id: string;
  username: string;
  token: string;
  refreshToken: string;
}

let counter = 0;
export function uniqueName(base = 'user'): string {
  counter += 1;
  return `${base}${counter}_${Math.random().toString(36).slice(2, 7)}`;
}

/** Signs up and logs in. `database` picks the physical database of the user's shard (0: 0-7, 1: 8-15). */
export async function newUser(
  svc: Metadata,
  options: { username?: string; displayName?: string; database?: 0 | 1 } = {},
): Promise<User> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const username = options.username ?? uniqueName();
    const created = await call(svc, 'POST', '/v1/accounts', {
      body: { username, password: 'correct horse battery', displayName: options.displayName ?? username },
    });
    if (created.status !== 201)
      throw new Error(`signup failed: ${created.status} ${JSON.stringify(created.body)}`);
    if (options.database !== undefined && (shardOf(created.body.id) < 8 ? 0 : 1) !== options.database) {
      if (options.username) throw new Error('cannot pick the database of a fixed username');
      continue;
    }
    const session = await call(svc, 'POST', '/v1/sessions', {
      body: { username, password: 'correct horse battery' },
    });
    if (session.status !== 201) throw new Error(`login failed: ${session.status}`);
    return {
      id: created.body.id,
      username,
      token: session.body.accessToken,
      refreshToken: session.body.refreshToken,
    };
  }
  throw new Error('no user landed on the wanted database');
}

/** Publishes an event on the namespace's streams, as another service (or an operator) would. */
export async function publish(fx: Fixture, event: AnyCloudEvent): Promise<void> {
  await createPublisher({ nc: fx.svc.infra.nc, prefix: fx.ns.nats.prefix }).publish(event);
}

/** Publishes raw bytes on a subject (a hand-written event with no headers, like `nats pub`). */
export async function publishRaw(fx: Fixture, subject: string, payload: string): Promise<void> {
  await fx.svc.infra.js.publish(
    natsSubjectFor(subject, fx.ns.nats.prefix),
    new TextEncoder().encode(payload),
  );
}

/** A `media.processed` event the way media-processing publishes it. */
export function mediaProcessed(
  data: Partial<EventData<'media.processed'>> & { mediaId: string; ownerId: string },
): AnyCloudEvent {
  return createEvent(
    'media.processed',
    {
      width: 1080,
      height: 720,
      blurhash: 'LEHV6nWB2yk8pyo0adR*.7kCMdnj',
      renditions: [
        { name: '1080', width: 1080, height: 720, format: 'jpeg', key: `media/${data.mediaId}/1080.jpg` },
        { name: '1080', width: 1080, height: 720, format: 'webp', key: `media/${data.mediaId}/1080.webp` },
        { name: 'thumb', width: 150, height: 150, format: 'jpeg', key: `media/${data.mediaId}/thumb.jpg` },
      ],
      ...data,
    },
    { source: '/instantpost/media-processing' },
  );
}

/** A fresh media id on the owner's shard, as upload mints it (`next_id()` of that shard). */
export async function mediaIdFor(fx: Fixture, ownerId: string): Promise<string> {
  const shard = fx.svc.infra.shards.forId(ownerId);
  const [row] = await shard.sql<{ id: string }[]>`SELECT ${shard.sql(`${shard.schema}.next_id`)}() AS id`;
  if (!row) throw new Error('no id');
  return row.id;
}

/** Creates a post for `owner` through `media.processed` and waits until it is readable. */
export async function newPost(fx: Fixture, owner: User, caption?: string): Promise<string> {
  const mediaId = await mediaIdFor(fx, owner.id);
  await publish(
    fx,
    mediaProcessed({ mediaId, ownerId: owner.id, ...(caption === undefined ? {} : { caption }) }),
  );
  await waitFor(
    'the post to be readable',
    async () => (await call(fx.svc, 'GET', `/v1/posts/${mediaId}`, { token: owner.token })).status === 200,
  );
  return mediaId;
}

/** Records every event published on `subjects` (core subscription on the namespace's subjects). */
export function recordEvents(fx: Fixture, pattern: string) {
  const events: AnyCloudEvent[] = [];
  const sub: Subscription = fx.svc.infra.nc.subscribe(natsSubjectFor(pattern, fx.ns.nats.prefix), {
    callback: (_err, msg: Msg) => {
      events.push(JSON.parse(new TextDecoder().decode(msg.data)) as AnyCloudEvent);
    },
  });
  return { events, stop: () => sub.unsubscribe() };
}

/** Rows of a table across every shard (to check nothing was stored). */
export async function countEverywhere(fx: Fixture, table: string, where = 'true'): Promise<number> {
  const counts = await fx.svc.infra.shards.fanOut(async (s) => {
    const [row] = await s.sql.unsafe<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM "${s.schema}"."${table}" WHERE ${where}`,
    );
    return row?.n ?? 0;
  });
  return counts.reduce((a, b) => a + b, 0);
}

/** Waits until a durable consumer of the service has nothing pending and nothing unacknowledged. */
export async function consumerIdle(fx: Fixture, stream: StreamName, consumer: string): Promise<void> {
  await waitFor(`${consumer} to be idle`, async () => {
    const info = await fx.svc.infra.jsm.consumers.info(streamNameFor(stream, fx.ns.nats.prefix), consumer);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  });
}
