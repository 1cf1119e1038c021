/**
 * The whole story through the gateway, as a mobile client lives it: the real processes (five services,
 * nginx, the S3 emulator of the namespace), driven only over HTTP.
 */
import { openNamespace, stopTestInfra, type TestNamespace, waitFor } from '@instantpost/testing';
import test from 'ava';
import sharp from 'sharp';
import { Client, openEventStream, type Session } from './client.ts';
import { openTestStack, type TestStack } from './stack-fixture.ts';

interface Rendition {
  name: string;
  width: number;
  height: number;
  format: string;
  url: string;
}
interface Post {
  id: string;
  author: { id: string; username: string };
  hashtags: string[];
  likeCount: number;
  commentCount: number;
  viewerHasLiked: boolean;
  media: { width: number; height: number; blurhash: string; renditions: Rendition[] };
}
interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
interface Notification {
  type: string;
  actors: { username: string }[];
  actorCount: number;
  postId?: string;
}

let ns: TestNamespace;
let running: TestStack;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  running = await openTestStack(ns);
});
test.after.always(async () => {
  await running?.stop();
  await ns?.close();
  await stopTestInfra();
});

/** A camera photo: landscape pixels stored with EXIF orientation 6 (shown portrait) and a GPS position. */
function cameraPhoto(width: number, height: number, hue: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: hue, g: 120, b: 255 - hue } } })
    .withExif({ IFD0: { Make: 'StoryCam' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1' } })
    .withMetadata({ orientation: 6 })
    .jpeg({ quality: 90 })
    .toBuffer();
}

function photoForm(bytes: Buffer): FormData {
  const form = new FormData();
  form.set('photo', new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }), 'big.jpg');
  return form;
}

test.serial(
  'three people share photos, follow, like, comment, get notified, delete and sign out',
  async (t) => {
    const api = new Client(running.url);
    const alice = await api.signUp('alice', 'correct horse battery', 'Alice');
    const bob = await api.signUp('bob', 'correct horse battery', 'Bob');
    const carol = await api.signUp('carol', 'correct horse battery', 'Carol');
    t.is(
      (await api.call('PATCH', '/v1/me', { token: carol.accessToken, json: { isPrivate: true } })).status,
      200,
    );

    // Follows: public accounts at once, the private one by request and approval.
    const follow = (who: Session, whom: Session) =>
      api.call<{ state: string }>('POST', `/v1/users/${whom.user.id}/follow`, { token: who.accessToken });
    t.is((await follow(alice, bob)).body.state, 'following');
    t.is((await follow(bob, alice)).body.state, 'following');
    t.is((await follow(alice, carol)).body.state, 'requested');
    t.is((await follow(bob, carol)).body.state, 'requested');
    const requests = await waitFor('carol sees two follow requests', async () => {
      const res = await api.call<Page<{ username: string }>>('GET', '/v1/follow-requests', {
        token: carol.accessToken,
      });
      return res.body.items?.length === 2 ? res.body.items : undefined;
    });
    t.deepEqual(requests.map((u) => u.username).sort(), ['alice', 'bob']);
    const approve = await api.call('POST', `/v1/follow-requests/${alice.user.id}/approve`, {
      token: carol.accessToken,
    });
    t.is(approve.status < 300, true, `approve: ${approve.status}`);
    const deny = await api.call('POST', `/v1/follow-requests/${bob.user.id}/deny`, {
      token: carol.accessToken,
    });
    t.is(deny.status < 300, true, `deny: ${deny.status}`);

    // Bob listens to his activity stream before anything happens to him.
    const bobStream = await openEventStream(`${running.url}/v1/notifications/stream`, bob.accessToken);
    t.is(bobStream.status, 200);

    // Real photos, uploaded and polled until published.
    const publish = async (who: Session, caption: string, hue: number) => {
      const id = await api.upload(who.accessToken, await cameraPhoto(2400, 1600, hue), {
        caption,
        altText: caption,
      });
      await waitFor(
        `media ${id} published`,
        async () => {
          const res = await api.call<{ status: string; reason?: string }>('GET', `/v1/media/${id}/status`, {
            token: who.accessToken,
          });
          if (res.body.status === 'rejected') throw new Error(`rejected: ${res.body.reason}`);
          return res.body.status === 'published' ? true : undefined;
        },
        { timeoutMs: 60_000 },
      );
      return id;
    };
    const bobPost = await publish(bob, '#Sunset at the beach with @alice', 40);
    const carolPost = await publish(carol, 'private garden', 120);
    const alicePost = await publish(alice, 'coffee #morning', 200);

    // Each home feed holds exactly what it should, newest first.
    const feedOf = (who: Session) =>
      api
        .call<Page<Post>>('GET', '/v1/feed', { token: who.accessToken })
        .then((r) => r.body.items.map((p) => p.id));
    const newestFirst = (ids: string[]) => [...ids].sort((a, b) => (BigInt(b) > BigInt(a) ? 1 : -1));
    const expected = {
      alice: newestFirst([alicePost, carolPost, bobPost]),
      bob: newestFirst([alicePost, bobPost]),
      carol: [carolPost],
    };
    for (const [name, who] of [
      ['alice', alice],
      ['bob', bob],
      ['carol', carol],
    ] as const) {
      const feed = await waitFor(`${name}'s feed`, async () => {
        const ids = await feedOf(who);
        return JSON.stringify(ids) === JSON.stringify(expected[name]) ? ids : undefined;
      });
      t.deepEqual(feed, expected[name], `${name}'s home feed`);
    }

    // A stranger to carol (bob, denied) cannot see her post.
    t.is((await api.call('GET', `/v1/posts/${carolPost}`, { token: bob.accessToken })).status, 404);
    t.is((await api.call('GET', `/v1/posts/${carolPost}`, { token: alice.accessToken })).status, 200);

    // Renditions through the gateway: the promised sizes, turned upright, and no EXIF left.
    const post = (await api.call<Post>('GET', `/v1/posts/${bobPost}`, { token: alice.accessToken })).body;
    t.deepEqual(post.hashtags, ['sunset']);
    t.deepEqual([post.media.width, post.media.height], [1600, 2400], 'EXIF orientation applied');
    const names = new Set(post.media.renditions.map((r) => `${r.name}.${r.format}`));
    for (const name of ['1080', '640', '320', 'thumb'])
      t.true(names.has(`${name}.jpeg`) || names.has(`${name}.jpg`), name);
    for (const rendition of post.media.renditions) {
      const res = await fetch(rendition.url);
      t.is(res.status, 200, `${rendition.url}: ${res.status === 200 ? '' : await res.clone().text()}`);
      const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      t.is(meta.exif, undefined, `${rendition.url} carries no EXIF`);
      t.deepEqual([meta.width, meta.height], [rendition.width, rendition.height], rendition.url);
      const expectedWidth = rendition.name === 'thumb' ? 150 : Number(rendition.name);
      t.is(meta.width, expectedWidth, `${rendition.name} is ${expectedWidth} wide`);
      t.regex(rendition.url, /\?e=\d+&s=[A-Za-z0-9_-]{43}$/, 'signed and expiring');
      const plain = await fetch(rendition.url.split('?')[0] as string);
      t.is(plain.status, 403, `${rendition.name}.${rendition.format} without its signature serves nothing`);
      await plain.arrayBuffer();
    }

    // Likes and a comment on bob's post: one grouped like item, a comment, a mention for alice.
    for (const who of [alice, carol]) {
      t.is((await api.call('POST', `/v1/posts/${bobPost}/likes`, { token: who.accessToken })).status, 204);
    }
    t.is((await api.call('POST', `/v1/posts/${bobPost}/likes`, { token: bob.accessToken })).status, 204);
    const comment = await api.call('POST', `/v1/posts/${bobPost}/comments`, {
      token: alice.accessToken,
      json: { text: 'what a view' },
    });
    t.is(comment.status, 201);
    const bobNotifications = await waitFor('bob is notified of the likes and the comment', async () => {
      const res = await api.call<Page<Notification> & { unreadCount: number }>('GET', '/v1/notifications', {
        token: bob.accessToken,
      });
      const likes = res.body.items.find((n) => n.type === 'like' && n.postId === bobPost);
      const comments = res.body.items.find((n) => n.type === 'comment');
      // The unread count follows the items a moment later (dropped after the item commits, then recounted).
      return likes?.actorCount === 2 && comments && res.body.unreadCount >= 3 ? res.body : undefined;
    });
    const likeItem = bobNotifications.items.find((n) => n.type === 'like');
    t.deepEqual(
      likeItem?.actors.map((a) => a.username).sort(),
      ['alice', 'carol'],
      'bob never notifies himself',
    );
    t.is(bobNotifications.unreadCount, 3, 'the follow, the like group and the comment are unread');
    const aliceMentions = await waitFor('alice is notified of the mention', async () => {
      const res = await api.call<Page<Notification>>('GET', '/v1/notifications', {
        token: alice.accessToken,
      });
      return res.body.items.find((n) => n.type === 'mention');
    });
    t.is(aliceMentions.actors[0]?.username, 'bob');
    await waitFor('the stream delivered bob his notifications', async () =>
      bobStream.events.length >= 2 ? true : undefined,
    );
    bobStream.close();

    // Liked state and counts in the feed.
    const seenByAlice = await waitFor('the feed shows the like and the comment', async () => {
      const feed = await api.call<Page<Post>>('GET', '/v1/feed', { token: alice.accessToken });
      const item = feed.body.items.find((p) => p.id === bobPost);
      return item?.likeCount === 3 && item.commentCount === 1 ? item : undefined; // alice, carol and bob
    });
    t.true(seenByAlice.viewerHasLiked, 'alice sees that she liked it');

    // Bob deletes his post: gone from every feed and from the API.
    t.is((await api.call('DELETE', `/v1/posts/${bobPost}`, { token: alice.accessToken })).status, 403);
    t.is((await api.call('DELETE', `/v1/posts/${bobPost}`, { token: bob.accessToken })).status, 204);
    t.is((await api.call('GET', `/v1/posts/${bobPost}`, { token: alice.accessToken })).status, 404);
    for (const who of [alice, bob]) {
      await waitFor('the deleted post leaves the feed', async () =>
        (await feedOf(who)).includes(bobPost) ? undefined : true,
      );
    }

    // The gateway lets a photo of exactly the upload limit through to the service, and not a byte more.
    const limit = running.options.uploadMaxBytes;
    const jpeg = await cameraPhoto(640, 480, 90);
    const atLimit = Buffer.concat([jpeg, Buffer.alloc(limit - jpeg.length)]);
    const accepted = await api.call<{ id: string }>('POST', '/v1/media', {
      token: carol.accessToken,
      form: photoForm(atLimit),
    });
    t.is(
      accepted.status,
      202,
      `a photo of exactly ${limit} bytes passes nginx: ${JSON.stringify(accepted.body)}`,
    );
    const refused = await api.call('POST', '/v1/media', {
      token: carol.accessToken,
      form: photoForm(Buffer.concat([atLimit, Buffer.alloc(1)])),
    });
    t.is(refused.status, 413, 'one byte more is refused');
    t.regex(refused.headers.get('content-type') ?? '', /^application\/problem\+json/);

    // Sessions: refresh rotates; the same token again at once (another tab) gets the same new pair; a
    // guessed secret is refused; logout ends the session.
    const refreshed = await api.call<Session>('POST', '/v1/sessions/refresh', {
      json: { refreshToken: alice.refreshToken },
    });
    t.is(refreshed.status, 201);
    const secondTab = await api.call<Session>('POST', '/v1/sessions/refresh', {
      json: { refreshToken: alice.refreshToken },
    });
    t.is(secondTab.status, 201);
    t.is(secondTab.body.refreshToken, refreshed.body.refreshToken, 'both tabs hold the same successor');
    const guessed = `${alice.refreshToken.split('.')[0]}.${'x'.repeat(43)}`;
    t.is((await api.call('POST', '/v1/sessions/refresh', { json: { refreshToken: guessed } })).status, 401);
    t.is(
      (await api.call('DELETE', '/v1/sessions/current', { token: refreshed.body.accessToken })).status,
      204,
    );
    t.is(
      (
        await api.call('POST', '/v1/sessions/refresh', {
          json: { refreshToken: refreshed.body.refreshToken },
        })
      ).status,
      401,
      'logout revokes the refresh token',
    );
  },
);
