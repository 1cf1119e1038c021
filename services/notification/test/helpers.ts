import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublisher, natsSubjectFor, type Publisher, streamNameFor } from '@instantpost/bus';
import { makeTestKeys, openTestService, type TestKeys, type TestService } from '@instantpost/chassis/testing';
import type { ConfigOf } from '@instantpost/config';
import {
  type CloudEvent,
  createEvent,
  type EventData,
  type EventSubject,
  parseEvent,
} from '@instantpost/events';
import { encode, formatId } from '@instantpost/ids';
import { openNamespace, stopTestInfra, type TestNamespace, waitFor } from '@instantpost/testing';
import { connect, type NatsConnection } from 'nats';
import { buildApp } from '../src/app.ts';
import { configSpec } from '../src/config.ts';

export { waitFor };

export type NotificationService = TestService<ConfigOf<typeof configSpec>>;

/** A test file's world: a namespace, keys, and a NATS connection that publishes as metadata would. */
export interface World {
  ns: TestNamespace;
  keys: TestKeys;
  nc: NatsConnection;
  publisher: Publisher;
  /** Starts an instance of the service on the namespace (the first one migrates). */
  start(env?: Record<string, string>): Promise<NotificationService>;
  /** Publishes an event through JetStream as metadata's outbox relay does; returns it. */
  publish<S extends EventSubject>(subject: S, data: EventData<S>): Promise<ReturnType<typeof createEvent<S>>>;
  /** A core publish of raw bytes with no headers (as `nats pub` does). */
  publishRaw(subject: EventSubject, payload: string): Promise<void>;
  /** The `notification.created` events published so far (read with an ordered consumer). */
  createdEvents(): Promise<CloudEvent<'notification.created'>[]>;
  /** Resolves once the activity consumer has nothing pending or unacknowledged. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export async function openWorld(): Promise<World> {
  const ns = await openNamespace({ databases: 2 });
  const keys = makeTestKeys();
  const nc = await connect({ servers: ns.nats.servers });
  const publisher = createPublisher({ nc, prefix: ns.nats.prefix });
  const services: NotificationService[] = [];
  let started = 0;
  const world: World = {
    ns,
    keys,
    nc,
    publisher,
    async start(env = {}) {
      const svc = await openTestService({
        service: 'notification',
        ns,
        keys,
        spec: configSpec,
        migrations: new URL('../src/sql/migrations/', import.meta.url),
        build: buildApp,
        setup: started++ === 0,
        env,
      });
      services.push(svc);
      return svc;
    },
    async publish(subject, data) {
      const event = createEvent(subject, data, { source: '/instantpost/metadata' });
      await publisher.publish(event);
      return event;
    },
    async publishRaw(subject, payload) {
      nc.publish(natsSubjectFor(subject, ns.nats.prefix), new TextEncoder().encode(payload));
      await nc.flush();
    },
    async createdEvents() {
      const stream = streamNameFor('NOTIFICATION', ns.nats.prefix);
      const jsm = await nc.jetstreamManager();
      const last = (await jsm.streams.info(stream)).state.last_seq;
      const found: CloudEvent<'notification.created'>[] = [];
      if (last === 0) return found;
      const consumer = await nc.jetstream().consumers.get(stream, {
        filterSubjects: natsSubjectFor('notification.created', ns.nats.prefix),
      });
      const messages = await consumer.consume();
      for await (const msg of messages) {
        const parsed = parseEvent(msg.data, { expectedType: 'notification.created' });
        if (parsed.ok && parsed.event.type === 'notification.created') found.push(parsed.event);
        if (msg.seq >= last) break;
      }
      return found;
    },
    async settled() {
      const jsm = await nc.jetstreamManager();
      await waitFor('the consumer to settle', async () => {
        const info = await jsm.consumers.info(
          streamNameFor('SOCIAL', ns.nats.prefix),
          'notification-activity',
        );
        return info.num_pending === 0 && info.num_ack_pending === 0;
      });
    },
    async close() {
      for (const svc of services.reverse()) await svc.close();
      await nc.drain();
      await ns.close();
      await stopTestInfra();
    },
  };
  return world;
}

let sequence = 0;
/** A user id on a given logical shard (0-15 in tests), as metadata would mint it. */
export function userId(shard: number): string {
  sequence = (sequence + 1) % 1024;
  return formatId(encode({ time: Date.now(), shard, sequence }));
}

/** A test user: an id on `shard` and a token; `account.created` published for it. */
export interface User {
  id: string;
  username: string;
  token: string;
}

export async function createUser(world: World, username: string, shard: number): Promise<User> {
  const id = userId(shard);
  await world.publish('account.created', {
    userId: id,
    username,
    displayName: username.toUpperCase(),
    isPrivate: false,
  });
  return { id, username, token: world.keys.tokenFor({ id, username }) };
}

export interface Item {
  id: string;
  type: string;
  approved?: boolean;
  actors: { id: string; username: string | null; displayName: string | null }[];
  actorCount: number;
  postId?: string;
  commentId?: string;
  createdAt: string;
  read: boolean;
}

export interface ListBody {
  items: Item[];
  nextCursor: string | null;
  unreadCount: number;
}

/** `GET /v1/notifications` as `user`. */
export async function list(svc: NotificationService, user: User, query = ''): Promise<ListBody> {
  const res = await svc.app.inject({
    method: 'GET',
    url: `/v1/notifications${query}`,
    headers: { authorization: `Bearer ${user.token}` },
  });
  if (res.statusCode !== 200) throw new Error(`list: ${res.statusCode} ${res.body}`);
  return res.json<ListBody>();
}

export async function listen(svc: NotificationService): Promise<string> {
  await svc.app.listen({ port: 0, host: '127.0.0.1' });
  const address = svc.app.server.address() as AddressInfo;
  return `http://127.0.0.1:${address.port}`;
}

export interface SseEvent {
  id: string | undefined;
  data: string;
}

/** A minimal EventSource over node:http that records events and comment lines. */
export interface SseClient {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: string;
  readonly events: SseEvent[];
  readonly comments: string[];
  /** Waits until at least `count` events have arrived. */
  waitForEvents(count: number, timeoutMs?: number): Promise<SseEvent[]>;
  /** Whether the server ended the stream. */
  readonly ended: boolean;
  /** Waits until the server ends the stream. */
  waitForEnd(timeoutMs?: number): Promise<true>;
  close(): void;
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { headers: { accept: 'text/event-stream', ...headers } },
      (res: IncomingMessage) => {
        const events: SseEvent[] = [];
        const comments: string[] = [];
        let buffer = '';
        let body = '';
        let ended = false;
        res.on('end', () => {
          ended = true;
        });
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (res.statusCode !== 200) {
            body += chunk;
            return;
          }
          buffer += chunk;
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let id: string | undefined;
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) comments.push(line.slice(1).trim());
              else if (line.startsWith('id: ')) id = line.slice(4);
              else if (line.startsWith('data: ')) data.push(line.slice(6));
            }
            if (data.length > 0) events.push({ id, data: data.join('\n') });
            end = buffer.indexOf('\n\n');
          }
        });
        const client: SseClient = {
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'],
          get body() {
            return body;
          },
          events,
          comments,
          waitForEvents: (count, timeoutMs = 10_000) =>
            waitFor(`${count} SSE events`, () => events.length >= count && events, { timeoutMs: timeoutMs }),
          get ended() {
            return ended;
          },
          waitForEnd: (timeoutMs = 10_000) =>
            waitFor('the server to end the stream', () => ended, { timeoutMs: timeoutMs }),
          close: () => req.destroy(),
        };
        if (res.statusCode === 200) resolve(client);
        else res.on('end', () => resolve(client));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
