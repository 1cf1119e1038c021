/**
 * Seeds the social graph:
 *   - accounts through `POST /v1/accounts` (the real sign-up, scrypt and all), many in parallel;
 *   - access tokens minted with the stack's JWT key (`signAccessToken`, the same claims metadata issues),
 *     so no scrypt-bound `POST /v1/sessions` per user;
 *   - follows through `POST /v1/users/:id/follow`, each user following `follows` others picked by a Zipf
 *     law over a popularity rank, so follower counts are power-law (a few accounts followed by most);
 *   - posts as `media.processed` events on NATS (what media-processing publishes when a photo is done),
 *     which metadata turns into posts and feed fans out: the real consumers, without rendering thousands
 *     of photos first (the upload pipeline is measured on its own).
 */
import { createPublisher, STREAM_NAMES, streamNameFor } from '@instantpost/bus';
import { createEvent, type EventData } from '@instantpost/events';
import { loadPrivateKey, signAccessToken } from '@instantpost/http';
import { createIdGenerator, type IdGenerator, shardOf } from '@instantpost/ids';
import type { JetStreamManager, NatsConnection } from 'nats';
import type { HttpClient } from './http.ts';

export interface User {
  id: string;
  username: string;
  token: string;
  /** Popularity rank: 0 is the most followed. */
  rank: number;
  followers: number;
  /** Ids this user follows (as seeded). */
  follows: Set<string>;
}

/** mulberry32: a small seeded PRNG, so every run seeds the same graph. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draws ranks 0..n-1 with P(r) ∝ 1 / (r + 1)^s. */
export function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let r = 0; r < n; r++) {
    sum += 1 / (r + 1) ** s;
    cdf[r] = sum;
  }
  return () => {
    const x = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** Runs `task(i)` for i in 0..n-1 with at most `concurrency` at a time. */
export async function pool(
  n: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

export async function signUpUsers(
  api: HttpClient,
  count: number,
  concurrency: number,
  jwtPrivateKey: string,
): Promise<User[]> {
  const key = loadPrivateKey(jwtPrivateKey);
  const users: User[] = new Array(count);
  await pool(count, concurrency, async (i) => {
    const username = `bench_${i}`;
    const reply = await api.send({
      method: 'POST',
      path: '/v1/accounts',
      json: { username, password: 'correct horse battery staple', displayName: `Bench ${i}` },
    });
    if (reply.status !== 201) throw new Error(`sign-up of ${username}: ${reply.status} ${reply.text}`);
    const { id } = JSON.parse(reply.text) as { id: string };
    users[i] = {
      id,
      username,
      token: signAccessToken(key, { sub: id, username }, 3600),
      rank: i,
      followers: 0,
      follows: new Set(),
    };
  });
  return users;
}

/**
 * Each user opens the app once (reads their feed), as the active users whose reads the benchmark measures:
 * feed keeps a timeline only for a user who has read theirs (fan-out skips the others, and their first read
 * rebuilds it from Postgres). Seeded without it, the first read-mix round rebuilt every timeline at once
 * under load: feed p99 1.7-2.2 s and 429s from the gateway's per-client connection cap (2026-11-30 runs).
 * Called before the posts are published, so the fan-out fills the timelines as it does for active users.
 */
export async function openFeeds(api: HttpClient, users: readonly User[], concurrency: number): Promise<void> {
  await pool(users.length, concurrency, async (i) => {
    const user = users[i] as User;
    const reply = await api.send({ method: 'GET', path: '/v1/feed', token: user.token });
    if (reply.status !== 200) throw new Error(`feed of ${user.username}: ${reply.status} ${reply.text}`);
  });
}

/** Who uploads in bench/system: the second most followed user, and one of their followers (to poll a feed). */
export function uploadingAuthor(users: readonly User[]): { author: User; follower: User } {
  const author = users[1] as User;
  return { author, follower: users.find((u) => u.follows.has(author.id)) as User };
}

/** Each user follows `follows` distinct others drawn by Zipf(s) over rank; returns the number of follows. */
export async function followZipf(
  api: HttpClient,
  users: User[],
  follows: number,
  s: number,
  concurrency: number,
  random: () => number,
): Promise<number> {
  const draw = zipf(users.length, s, random);
  const edges: [User, User][] = [];
  for (const follower of users) {
    const chosen = new Set<number>();
    const want = Math.min(follows, users.length - 1);
    while (chosen.size < want) {
      const r = draw();
      if (r !== follower.rank) chosen.add(r);
    }
    for (const r of chosen) edges.push([follower, users[r] as User]);
  }
  await pool(edges.length, concurrency, async (i) => {
    const [follower, followee] = edges[i] as [User, User];
    const reply = await api.send({
      method: 'POST',
      path: `/v1/users/${followee.id}/follow`,
      token: follower.token,
    });
    if (reply.status !== 200) throw new Error(`follow: ${reply.status} ${reply.text}`);
    followee.followers++;
    follower.follows.add(followee.id);
  });
  return edges.length;
}

function processed(ownerId: string, mediaId: string, n: number): EventData<'media.processed'> {
  return {
    mediaId,
    ownerId,
    width: 1080,
    height: 1350,
    blurhash: 'LEHV6nWB2yk8pyo0adR*.7kCMdnj',
    caption: `Seeded post ${n} #bench`,
    renditions: ['1080', '640', '320'].flatMap((name) =>
      (['jpeg', 'webp'] as const).map((format) => ({
        name,
        width: Number(name),
        height: Math.round((Number(name) * 5) / 4),
        format,
        key: `media/${mediaId}/${name}.${format === 'jpeg' ? 'jpg' : 'webp'}`,
      })),
    ),
  };
}

/** Publishes `perUser` posts for every user as `media.processed` events; returns the post ids. */
export async function publishPosts(
  nc: NatsConnection,
  prefix: string,
  users: User[],
  perUser: number,
): Promise<string[]> {
  const publisher = createPublisher({ nc, prefix });
  const generators = new Map<number, IdGenerator>();
  const ids: string[] = [];
  for (let round = 0; round < perUser; round++) {
    await pool(users.length, 32, async (i) => {
      const owner = users[i] as User;
      const shard = shardOf(owner.id);
      let g = generators.get(shard);
      if (!g) {
        g = createIdGenerator(shard);
        generators.set(shard, g);
      }
      const mediaId = g.next().toString();
      ids.push(mediaId);
      await publisher.publish(
        createEvent('media.processed', processed(owner.id, mediaId, ids.length), {
          source: '/instantpost/media-processing',
        }),
      );
    });
  }
  return ids;
}

/** Waits until every consumer of every stream of the namespace has had nothing pending for three polls. */
export async function settled(jsm: JetStreamManager, prefix: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  while (quiet < 3) {
    if (Date.now() > deadline) throw new Error('the consumers did not drain in time');
    let busy = false;
    for (const stream of STREAM_NAMES.map((s) => streamNameFor(s, prefix))) {
      for await (const info of jsm.consumers.list(stream)) {
        busy ||= info.num_pending > 0 || info.num_ack_pending > 0;
      }
    }
    quiet = busy ? 0 : quiet + 1;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
