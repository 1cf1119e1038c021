import { createLogger } from '@instantpost/telemetry';
import test from 'ava';
import { createReader, type StreamEntry } from '../src/domain/reader.ts';
import { createStreamHub, type StreamClient } from '../src/domain/stream-hub.ts';
import { createUnreadCounts } from '../src/domain/unread.ts';
import { notificationStore } from '../src/store/notifications.ts';
import { unreadCache } from '../src/store/unread.ts';
import { userStore } from '../src/store/users.ts';
import { createUser, list, type NotificationService, openWorld, type World } from './helpers.ts';

// The hub of one replica on the service's real stores: announcements that come in a burst are loaded
// together (a few in flight, the rest of the queue in one read per shard) and each item goes to the
// streams of its own recipient.
let world: World;
let svc: NotificationService;

test.before(async () => {
  world = await openWorld();
  svc = await world.start();
});
test.after.always(async () => {
  await world?.close();
});

let seq = 1;

test('a burst of announcements for many recipients, loaded together, reaches each stream with its own items once', async (t) => {
  const owners = await Promise.all([0, 1, 2].map((i) => createUser(world, `hub${i}_${seq++}`, i * 6)));
  const fans = await Promise.all([0, 1, 2, 3].map((i) => createUser(world, `hfan${i}_${seq++}`, i * 4 + 1)));
  for (const owner of owners) {
    for (const fan of fans) {
      await world.publish('follow.created', { followerId: fan.id, followeeId: owner.id, state: 'following' });
    }
  }
  await world.settled();

  const { shards, redis } = svc.infra;
  const logger = createLogger({ service: 'test', level: 'silent' });
  const notifications = notificationStore(shards);
  const unread = createUnreadCounts({ notifications, cache: unreadCache(redis, 60), logger });
  const hub = createStreamHub({
    reader: createReader({ notifications, users: userStore(shards), unread }),
    logger,
  });
  const received = new Map<string, StreamEntry[]>();
  for (const owner of owners) {
    const client: StreamClient = {
      id: `stream-${owner.id}`,
      userId: owner.id,
      send: (entry) => received.set(owner.id, [...(received.get(owner.id) ?? []), entry]),
      heartbeat: () => {},
      close: () => {},
    };
    await hub.open(client, undefined);
  }

  // Every item announced at once, owners interleaved: after the first few loads the rest queue, and the
  // next load takes them all (items of every owner in one read).
  const listed = await Promise.all(owners.map(async (owner) => (await list(svc, owner)).items));
  const announcements = fans.flatMap((_, f) =>
    owners.map((owner, o) => ({
      recipientId: owner.id,
      notificationId: listed[o]?.[f]?.id ?? '',
      type: 'follow' as const,
      actorIds: [fans[f]?.id ?? ''],
    })),
  );
  for (const data of announcements) hub.created(data);

  const expected = fans.length * owners.length;
  const deadline = Date.now() + 5000;
  while ([...received.values()].flat().length < expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  for (const [o, owner] of owners.entries()) {
    const items = (received.get(owner.id) ?? []).map((entry) => entry.item);
    t.deepEqual(
      items.map((item) => item.id).sort(),
      (listed[o] ?? []).map((item) => item.id).sort(),
      "exactly the owner's items, each once",
    );
    t.deepEqual(
      items.find((item) => item.id === listed[o]?.[0]?.id),
      listed[o]?.[0],
      'each as the list shows it',
    );
  }
});
