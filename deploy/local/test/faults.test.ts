/**
 * The photo story under faults: a media-processing worker and a feed instance are killed (SIGKILL) in the
 * middle of work and started again, and NATS itself is restarted once. Nothing may be lost or duplicated.
 * NATS here is a server of this test's own, so restarting it disturbs no other test.
 */
import {
  openNamespace,
  type PrivateNats,
  startPrivateNats,
  stopTestInfra,
  type TestNamespace,
  waitFor,
} from '@instantpost/testing';
import test from 'ava';
import sharp from 'sharp';
import { Client } from './client.ts';
import { openTestStack, type TestStack } from './stack-fixture.ts';

let ns: TestNamespace;
let nats: PrivateNats;
let running: TestStack;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  nats = await startPrivateNats();
  running = await openTestStack(ns, {
    replicas: { 'media-processing': 2, feed: 2 },
    env: { NATS_URL: nats.url },
  });
});
test.after.always(async () => {
  await running?.stop();
  await nats?.stop();
  await ns?.close();
  await stopTestInfra();
});

const photo = (hue: number) =>
  sharp({ create: { width: 2400, height: 1600, channels: 3, background: { r: hue, g: 80, b: 160 } } })
    .jpeg()
    .toBuffer();

test.serial(
  'crashed workers, a crashed feed instance and a NATS restart lose and duplicate nothing',
  async (t) => {
    const api = new Client(running.url);
    const author = await api.signUp('author', 'correct horse battery', 'Author');
    const reader = await api.signUp('reader', 'correct horse battery', 'Reader');
    const follow = await api.call('POST', `/v1/users/${author.user.id}/follow`, {
      token: reader.accessToken,
    });
    t.is(follow.status, 200);

    const [worker] = running.stack.replicasOf('media-processing');
    const [feedInstance] = running.stack.replicasOf('feed');
    if (!worker || !feedInstance) throw new Error('the stack has no replicas to kill');
    const uploaded: string[] = [];
    const faults: Array<() => Promise<void>> = [
      async () => {
        await worker.kill();
        await worker.start();
      },
      async () => {
        await feedInstance.kill();
        await feedInstance.start();
      },
      () => nats.restart(),
    ];
    for (let i = 0; i < 9; i++) {
      uploaded.push(await api.upload(author.accessToken, await photo(20 * i), { caption: `photo ${i}` }));
      // A fault after every third upload, while the earlier ones are still in the pipeline.
      if (i % 3 === 2) await faults[(i - 2) / 3]?.();
    }

    for (const id of uploaded) {
      await waitFor(
        `media ${id} published`,
        async () => {
          const res = await api.call<{ status: string }>('GET', `/v1/media/${id}/status`, {
            token: author.accessToken,
          });
          return res.body.status === 'published' ? true : undefined;
        },
        { timeoutMs: 90_000 },
      );
    }
    const newestFirst = [...uploaded].sort((a, b) => (BigInt(b) > BigInt(a) ? 1 : -1));
    const grid = await waitFor('the profile grid holds every photo once', async () => {
      const res = await api.call<{ items: { id: string }[] }>('GET', `/v1/users/${author.user.id}/posts`, {
        token: reader.accessToken,
      });
      return res.body.items.length === uploaded.length ? res.body.items.map((p) => p.id) : undefined;
    });
    t.deepEqual(grid, newestFirst);
    for (const [name, who] of [
      ['reader', reader],
      ['author', author],
    ] as const) {
      const feed = await waitFor(
        `${name}'s feed holds every photo once`,
        async () => {
          const res = await api.call<{ items: { id: string }[] }>('GET', '/v1/feed', {
            token: who.accessToken,
          });
          const ids = res.body.items.map((p) => p.id);
          return ids.length >= uploaded.length ? ids : undefined;
        },
        { timeoutMs: 60_000 },
      );
      t.deepEqual(feed, newestFirst, `${name}'s feed: each photo exactly once, newest first`);
    }
    const profile = await api.call<{ counts: { posts: number } }>('GET', '/v1/users/author', {
      token: reader.accessToken,
    });
    t.is(profile.body.counts.posts, uploaded.length, 'the post count saw each post once');
  },
);
