import { createPublisher, type Publisher, streamNameFor } from '@instantpost/bus';
import { makeTestKeys, openTestService, type TestKeys, type TestService } from '@instantpost/chassis/testing';
import type { ConfigOf } from '@instantpost/config';
import { createEvent, type EventData, type EventSubject } from '@instantpost/events';
import { createIdGenerator, type IdGenerator, shardOf } from '@instantpost/ids';
import type { TestNamespace } from '@instantpost/testing';
import { buildApp } from '../src/app.ts';
import { configSpec } from '../src/config.ts';
import type { FeedItem } from '../src/domain/types.ts';

export const migrations = new URL('../src/sql/migrations/', import.meta.url);

export type FeedService = TestService<ConfigOf<typeof configSpec>>;

export interface User {
  id: string;
  username: string;
  token: string;
}

export interface FeedBody {
  items: FeedItem[];
  nextCursor: string | null;
}

/** A feed service on a namespace plus a publisher that sends events as metadata's outbox relay would. */
export class Harness {
  private readonly generators = new Map<number, IdGenerator>();
  private users = 0;
  private seconds = 0;
  private lastPostAt = 0;

  readonly ns: TestNamespace;
  readonly keys: TestKeys;
  readonly feed: FeedService;
  readonly publisher: Publisher;

  private constructor(ns: TestNamespace, keys: TestKeys, feed: FeedService, publisher: Publisher) {
    this.ns = ns;
    this.keys = keys;
    this.feed = feed;
    this.publisher = publisher;
  }

  static async open(
    ns: TestNamespace,
    env: Record<string, string> = {},
    keys = makeTestKeys(),
  ): Promise<Harness> {
    const feed = await openTestService({
      service: 'feed',
      ns,
      keys,
      spec: configSpec,
      migrations,
      build: buildApp,
      // Dead-lettering in the DLQ test logs warnings on purpose; keep the test output to real failures.
      env: { LOG_LEVEL: 'error', ...env },
    });
    const publisher = createPublisher({ nc: feed.infra.nc, prefix: ns.nats.prefix });
    return new Harness(ns, keys, feed, publisher);
  }

  /** An id minted on `shard`, as metadata's next_id() would. */
  id(shard: number): string {
    let g = this.generators.get(shard);
    if (!g) {
      g = createIdGenerator(shard);
      this.generators.set(shard, g);
    }
    return g.next().toString();
  }

  /** Event times that strictly increase, so tests control which event is newer. */
  nextTime(): string {
    this.seconds++;
    return new Date(Date.UTC(2026, 5, 1, 0, 0, this.seconds)).toISOString();
  }

  async publish<S extends EventSubject>(subject: S, data: EventData<S>, time = this.nextTime(), id?: string) {
    const event = createEvent(subject, data, {
      source: '/instantpost/metadata',
      time,
      ...(id ? { id } : {}),
    });
    await this.publisher.publish(event);
    return event;
  }

  /** A user on shard `n % 16` announced with account.created. */
  async user(isPrivate = false): Promise<User> {
    const n = this.users++;
    const id = this.id((n * 5) % 16);
    const username = `user${n}_${this.ns.name}`.slice(0, 30);
    await this.publish('account.created', { userId: id, username, displayName: `User ${n}`, isPrivate });
    return { id, username, token: this.keys.tokenFor({ id, username }) };
  }

  async follow(a: User, b: User, state: 'following' | 'requested' = 'following') {
    return this.publish('follow.created', { followerId: a.id, followeeId: b.id, state });
  }

  /**
   * post.published for a new post by `author` (its id minted on the author's shard). Each post gets a later
   * millisecond than the one before, so posting order is id order also across shards (within one
   * millisecond, ids of two shards order by shard, not by when they were made).
   */
  async post(author: User, caption = 'a post'): Promise<string> {
    while (Date.now() <= this.lastPostAt) await new Promise((r) => setTimeout(r, 1));
    const postId = this.id(shardOf(author.id));
    this.lastPostAt = Date.now();
    const mediaId = this.id(shardOf(author.id));
    await this.publish('post.published', postData(postId, mediaId, author.id, caption));
    return postId;
  }

  async feedOf(user: User, query = ''): Promise<FeedBody> {
    const res = await this.feed.app.inject({
      method: 'GET',
      url: `/v1/feed${query}`,
      headers: { authorization: `Bearer ${user.token}` },
    });
    if (res.statusCode !== 200) throw new Error(`GET /v1/feed answered ${res.statusCode}: ${res.body}`);
    return res.json<FeedBody>();
  }

  async feedIds(user: User): Promise<string[]> {
    return (await this.feedOf(user, '?limit=100')).items.map((i) => i.id);
  }

  /** Polls `check` until it returns true (events are asynchronous); throws with `what` on timeout. */
  async until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await check()) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits until both feed consumers have handled everything published so far. */
  async settled(timeoutMs = 30_000): Promise<void> {
    const stream = streamNameFor('SOCIAL', this.ns.nats.prefix);
    await this.until(
      'feed consumers to catch up',
      async () => {
        for (const name of ['feed-fanout', 'feed-projector']) {
          const info = await this.feed.infra.jsm.consumers.info(stream, name);
          if (info.num_pending > 0 || info.num_ack_pending > 0) return false;
        }
        return true;
      },
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    await this.feed.close();
  }
}

export function postData(
  postId: string,
  mediaId: string,
  authorId: string,
  caption: string,
): EventData<'post.published'> {
  return {
    postId,
    mediaId,
    authorId,
    createdAt: new Date().toISOString(),
    caption,
    hashtags: ['test'],
    mentions: [],
    altText: 'alt',
    media: {
      width: 1080,
      height: 1350,
      blurhash: 'LEHV6nWB2yk8pyo0adR*.7kCMdnj',
      renditions: [
        { name: '1080', width: 1080, height: 1350, format: 'jpeg', key: `media/${mediaId}/1080.jpg` },
        { name: 'thumb', width: 150, height: 150, format: 'jpeg', key: `media/${mediaId}/thumb.jpg` },
      ],
    },
  };
}
