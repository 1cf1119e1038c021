/**
 * The NATS users Kubernetes ships (k8s/nats/auth.conf, exactly that file) on a private nats-server: each
 * service publishes its own subjects, runs its consumers (acks, dead letters, its revocation tail) and is
 * refused everything else; the setup user declares the streams; the operator may do everything.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BusUser,
  type ConsumerRunner,
  DeadLetterHeaders,
  defineConsumer,
  ensureStreams,
  type HandlerMap,
  NATS_USERS,
  type NatsUser,
  passwordVariable,
  SERVICE_BUS_ACCESS,
  shardMapBucketNameFor,
  startConsumer,
  streamNameFor,
  tailEvents,
} from '@instantpost/bus';
import { EVENT_SUBJECTS, type EventSubject } from '@instantpost/events';
import { type LiveShardMap, openShardMapStore, parseShardMap, shardMapBucketFor } from '@instantpost/shards';
import { createLogger } from '@instantpost/telemetry';
import { type PrivateNats, startPrivateNats } from '@instantpost/testing';
import test from 'ava';
import { connect, type NatsConnection } from 'nats';
import { NATS_AUTH_FILE, natsAuthIsCurrent, REPO_ROOT, serviceConsumers } from '../src/index.ts';

const SERVICES = Object.keys(SERVICE_BUS_ACCESS) as BusUser[];
const CONSUMERS = serviceConsumers();
const consumersOf = (service: BusUser) => Object.entries(CONSUMERS[service]);
// nats-server parses a `$VAR` password's value as config: one that starts with a digit and holds letters
// fails to parse and the server does not start. Passwords start with a letter (k8s/README.md says so).
const passwords = Object.fromEntries(
  NATS_USERS.map((u) => [u, `p${randomBytes(18).toString('hex')}`]),
) as Record<NatsUser, string>;
const logger = createLogger({ service: 'nats-permissions-test', level: 'silent' });
let server: PrivateNats | undefined;
const open: NatsConnection[] = [];

/** A connection as `user`, with the asynchronous errors the server sent it (permission violations). */
async function connectAs(user: NatsUser): Promise<{ nc: NatsConnection; errors: string[] }> {
  if (!server) throw new Error('no server');
  const nc = await connect({ servers: server.url, user, pass: passwords[user], name: user });
  open.push(nc);
  const errors: string[] = [];
  void (async () => {
    for await (const status of nc.status()) if (status.type === 'error') errors.push(String(status.data));
  })();
  return { nc, errors };
}

/** A valid event of `subject` (deploy/nats/examples) with a fresh id. */
function example(subject: EventSubject): string {
  const event = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/nats/examples', `${subject}.json`), 'utf8'));
  return JSON.stringify({ ...event, id: randomUUID() });
}

async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`never: ${what}`);
}

const ownerOf = (subject: EventSubject) =>
  SERVICES.find((s) => (SERVICE_BUS_ACCESS[s].publishes as readonly string[]).includes(subject));

test.before(async () => {
  const env = Object.fromEntries(NATS_USERS.map((u) => [passwordVariable(u), passwords[u]]));
  server = await startPrivateNats({ configFile: NATS_AUTH_FILE, env });
  const { nc } = await connectAs('setup');
  await ensureStreams(await nc.jetstreamManager());
});

test.after.always(async () => {
  for (const nc of open) await nc.close().catch(() => {});
  await server?.stop();
});

test('k8s/nats/auth.conf is the rendering of libs/bus/src/access.ts (npm run nats:auth)', (t) => {
  t.true(natsAuthIsCurrent());
});

test('every service has its durable consumers in the permissions, read from its own definitions', (t) => {
  for (const service of SERVICES) {
    const names = consumersOf(service).map(([name]) => name);
    t.true(names.length > 0, `${service} defines consumers`);
    for (const [name, subjects] of consumersOf(service)) t.true(subjects.length > 0, `${service}/${name}`);
  }
  t.deepEqual(
    consumersOf('metadata').find(([name]) => name === 'metadata-posts')?.[1],
    ['media.processed'],
    "the subjects are the definition's (services/metadata/src/handlers/media-processed.ts)",
  );
});

test('every event subject has exactly one publishing service', (t) => {
  for (const subject of EVENT_SUBJECTS) {
    const owners = SERVICES.filter((s) =>
      (SERVICE_BUS_ACCESS[s].publishes as readonly string[]).includes(subject),
    );
    t.is(owners.length, 1, `${subject}: ${owners.join(', ') || 'nobody'}`);
  }
});

test.serial('a wrong password is refused', async (t) => {
  if (!server) throw new Error('no server');
  const err = await t.throwsAsync(connect({ servers: server.url, user: 'feed', pass: 'not-the-password' }));
  t.regex(String(err?.message), /AUTHORIZATION_VIOLATION|Authorization Violation/i);
});

test.serial('the setup user declares the streams; a service only reads them', async (t) => {
  const setup = await connectAs('setup');
  const reports = await ensureStreams(await setup.nc.jetstreamManager());
  t.deepEqual(
    reports.map((r) => r.action),
    ['unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged'],
  );
  const feed = await connectAs('feed');
  const jsm = await feed.nc.jetstreamManager();
  // What openInfra does at every start: compare, change nothing.
  t.true((await ensureStreams(jsm)).every((r) => r.action === 'unchanged'));
  const err = await t.throwsAsync(jsm.streams.add({ name: 'FEED_OWN', subjects: ['feedown.>'] }));
  t.regex(String(err?.message), /Permissions Violation/i);
  const update = await t.throwsAsync(jsm.streams.update('SOCIAL', { max_msgs: 10 }));
  t.regex(String(update?.message), /Permissions Violation/i);
});

test.serial(
  'each service publishes its own subjects and runs its consumers, dead letters and tail',
  async (t) => {
    const connections = new Map<BusUser, Awaited<ReturnType<typeof connectAs>>>();
    for (const service of SERVICES) connections.set(service, await connectAs(service));
    const operator = await connectAs('operator');

    // Every event published by its owner (a JetStream publish: the stream acknowledges it).
    const published = new Map<EventSubject, string>();
    for (const subject of EVENT_SUBJECTS) {
      const owner = ownerOf(subject);
      const conn = owner && connections.get(owner);
      if (!conn) throw new Error(`no owner for ${subject}`);
      const payload = example(subject);
      const ack = await conn.nc.jetstream().publish(subject, payload);
      t.true(ack.seq > 0, `${owner} publishes ${subject}`);
      published.set(subject, JSON.parse(payload).id);
    }

    // Every consumer of the table, as its service, handles what was published; a malformed event on its
    // first subject is dead-lettered by it (a publish to dlq.<subject> as that service).
    const handled = new Set<string>();
    const runners: ConsumerRunner[] = [];
    for (const service of SERVICES) {
      const conn = connections.get(service);
      if (!conn) continue;
      for (const [name, subjects] of consumersOf(service)) {
        const handlers = Object.fromEntries(
          subjects.map((s) => [
            s,
            async (event: { id: string }) => void handled.add(`${name} ${s} ${event.id}`),
          ]),
        ) as unknown as HandlerMap<EventSubject>;
        await operator.nc.jetstream().publish(subjects[0] as string, 'not a cloud event');
        runners.push(
          await startConsumer({
            nc: conn.nc,
            logger,
            definition: defineConsumer({ name, subjects, handlers }),
          }),
        );
      }
    }
    const tails = await Promise.all(
      SERVICES.map(async (service) => {
        const conn = connections.get(service);
        if (!conn) throw new Error(service);
        const seen: string[] = [];
        const tail = await tailEvents({
          js: conn.nc.jetstream(),
          jsm: await conn.nc.jetstreamManager(),
          subject: 'session.revoked',
          sinceMs: 0,
          logger,
          onEvent: (event) => seen.push(event.id),
        });
        return { service, tail, seen };
      }),
    );

    for (const service of SERVICES) {
      for (const [name, subjects] of consumersOf(service)) {
        for (const subject of subjects) {
          const id = published.get(subject);
          await eventually(() => handled.has(`${name} ${subject} ${id}`), `${name} handles ${subject}`);
        }
      }
    }
    t.pass('every consumer handled every subject it consumes');

    const jsm = await operator.nc.jetstreamManager();
    const deadLetterers = new Set<string>();
    await eventually(async () => {
      const info = await jsm.streams.info(streamNameFor('DLQ'));
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
        const letter = await jsm.streams.getMessage(streamNameFor('DLQ'), { seq });
        deadLetterers.add(letter.header.get(DeadLetterHeaders.Consumer));
      }
      return runners.every((r) => deadLetterers.has(r.name));
    }, 'every consumer dead-letters its malformed event');
    t.deepEqual(
      runners.map((r) => r.name).filter((n) => !deadLetterers.has(n)),
      [],
    );

    for (const { service, tail, seen } of tails) {
      await tail.caughtUp;
      t.true(seen.includes(published.get('session.revoked') ?? '-'), `${service} tails session.revoked`);
      await tail.stop();
    }
    for (const runner of runners) await runner.stop();
    for (const [service, conn] of connections)
      t.deepEqual(conn.errors, [], `${service}: no permission was missing`);
  },
);

test.serial(
  "a service may not publish another service's subjects, nor pull another's consumer",
  async (t) => {
    for (const service of SERVICES) {
      const { nc } = await connectAs(service);
      const js = nc.jetstream();
      const others = EVENT_SUBJECTS.filter(
        (s) => !(SERVICE_BUS_ACCESS[service].publishes as readonly string[]).includes(s),
      );
      for (const subject of others) {
        const err = await t.throwsAsync(
          js.publish(subject, example(subject)),
          undefined,
          `${service} → ${subject}`,
        );
        t.regex(String(err?.message), /Permissions Violation for Publish/i);
      }
    }
    const feed = await connectAs('feed');
    const stolen = await t.throwsAsync(feed.nc.jetstream().consumers.get('MEDIA', 'media-processing'));
    t.regex(String(stolen?.message), /Permissions Violation/i);
    const dlq = await t.throwsAsync(feed.nc.jetstream().publish('dlq.media.uploaded', '{}'));
    t.regex(String(dlq?.message), /Permissions Violation/i);
  },
);

test.serial(
  'a core subscription outside its row is refused; notification may listen to its own',
  async (t) => {
    const feed = await connectAs('feed');
    const sub = feed.nc.subscribe('post.published');
    const err = await t.throwsAsync(
      (async () => {
        for await (const _ of sub) break;
      })(),
    );
    t.regex(String(err?.message), /Permissions Violation for Subscription/i);
    const notification = await connectAs('notification');
    const own = notification.nc.subscribe('notification.created', { max: 1 });
    await notification.nc.flush();
    const operator = await connectAs('operator');
    operator.nc.publish('notification.created', 'hello');
    for await (const msg of own) t.is(msg.string(), 'hello');
    t.deepEqual(notification.errors, []);
  },
);

test('the permissions name the bucket the shard map store opens', (t) => {
  t.is(shardMapBucketNameFor(), shardMapBucketFor());
  t.is(shardMapBucketNameFor('t1a2b3'), shardMapBucketFor('t1a2b3'));
});

test.serial(
  'the live shard map: every service reads and watches it and may not change it; setup and the operator write it',
  async (t) => {
    const setup = await connectAs('setup');
    // What setupService does: open (create) the bucket and seed it from SHARD_MAP.
    const setupStore = await openShardMapStore(setup.nc.jetstream());
    const seeded = await setupStore.seed(parseShardMap('0-1=postgres://db-a/ip_0;2-3=postgres://db-b/ip_1'));
    const change = (to: string) => (m: LiveShardMap) => ({
      ...m,
      shards: m.shards.map((u, s) => (s === 1 ? to : u)),
    });
    const watchers = [];
    for (const service of SERVICES) {
      const conn = await connectAs(service);
      // What openInfra does at every start: open the bucket, read the map, watch it.
      const store = await openShardMapStore(conn.nc.jetstream());
      t.is((await store.get())?.version, seeded.version, `${service} reads the map`);
      const seen: number[] = [];
      const watcher = await store.watch((m) => seen.push(m.version));
      await eventually(() => seen.length > 0, `${service} watches the map`);
      await conn.nc.flush();
      t.deepEqual(conn.errors, [], `${service}: reading and watching the map needs nothing denied`);
      const refused = await t.throwsAsync(store.update(change('postgres://evil/ip')), undefined, service);
      t.regex(String(refused?.message), /Permissions Violation for Publish/i, `${service} may not write`);
      watchers.push({ service, conn, watcher, seen, denied: conn.errors.length });
    }
    t.is((await setupStore.get())?.shards[1], seeded.shards[1], 'no service changed the map');
    const bySetup = await setupStore.update(change('postgres://db-c/ip_2'));
    t.is(bySetup.version, seeded.version + 1, 'the setup user changes the map');
    const operator = await connectAs('operator');
    const byOperator = await (await openShardMapStore(operator.nc.jetstream())).update(
      change('postgres://db-d/ip_3'),
    );
    t.is(byOperator.version, seeded.version + 2, 'the operator changes the map');
    for (const { service, conn, watcher, seen, denied } of watchers) {
      await eventually(() => seen.at(-1) === byOperator.version, `${service} watches the map`);
      t.deepEqual(
        seen,
        [seeded.version, bySetup.version, byOperator.version],
        `${service} saw every version`,
      );
      watcher.stop();
      t.is(conn.errors.length, denied, `${service}: following later versions needs nothing denied`);
    }
    t.deepEqual(setup.errors, [], 'setup: no permission was missing');
  },
);

test.serial('the operator may do everything', async (t) => {
  const { nc, errors } = await connectAs('operator');
  const js = nc.jetstream();
  for (const subject of EVENT_SUBJECTS) t.true((await js.publish(subject, example(subject))).seq > 0);
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: 'SCRATCH', subjects: ['scratch.>'] });
  t.true(await jsm.streams.delete('SCRATCH'));
  t.truthy(await jsm.consumers.info('MEDIA', 'media-processing'));
  t.deepEqual(errors, []);
});
