/**
 * Who can fetch a photo, through the real gateway: rendition URLs are signed and expire (libs/media-urls,
 * verified by nginx's njs), the API hands them only to viewers allowed to see the post, and a deleted post's
 * files stop being served (S3 and the gateway's cache). Clients are told apart by their loopback address.
 */
import { signedMediaUrl, verifyMediaUrl } from '@instantpost/media-urls';
import { openNamespace, stopTestInfra, type TestNamespace, waitFor } from '@instantpost/testing';
import test from 'ava';
import sharp from 'sharp';
import { Client, type Session } from './client.ts';
import { openTestStack, type TestStack } from './stack-fixture.ts';

interface Rendition {
  name: string;
  format: string;
  url: string;
}
interface Post {
  id: string;
  media: { renditions: Rendition[] };
}

/** The gateway revalidates a cached rendition with S3 after this long: a deletion shows within it. */
const CACHE_VALID_SECONDS = 5;

let ns: TestNamespace;
let running: TestStack;
let owner: Client;
let friend: Client;
let stranger: Client;
let anonymous: Client;

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  running = await openTestStack(ns, { gateway: { mediaCacheValidSeconds: CACHE_VALID_SECONDS } });
  owner = new Client(running.url);
  friend = new Client(running.url, '127.0.0.21');
  stranger = new Client(running.url, '127.0.0.22');
  anonymous = new Client(running.url, '127.0.0.23');
});
test.after.always(async () => {
  await running?.stop();
  await ns?.close();
  await stopTestInfra();
});

function photo(hue: number): Promise<Buffer> {
  return sharp({ create: { width: 1200, height: 900, channels: 3, background: { r: hue, g: 90, b: 200 } } })
    .jpeg({ quality: 85 })
    .toBuffer();
}

/** Uploads and waits for the upload to end: the media id, and whether it was published or rejected. */
async function post(who: Session, bytes: Buffer): Promise<{ id: string; status: string }> {
  const id = await owner.upload(who.accessToken, bytes, { caption: 'mine only' });
  const status = await waitFor(
    `media ${id} processed`,
    async () => {
      const res = await owner.call<{ status: string }>('GET', `/v1/media/${id}/status`, {
        token: who.accessToken,
      });
      return res.body.status === 'processing' ? undefined : res.body.status;
    },
    { timeoutMs: 60_000 },
  );
  return { id, status };
}

/** GET of a URL (absolute or a path) from `client`'s address: status, cache status, type and size. */
async function fetchMedia(client: Client, url: string) {
  const u = new URL(url, running.url);
  const res = await client.send('GET', u.pathname + u.search, {});
  const body = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    cache: res.headers.get('x-cache-status'),
    type: res.headers.get('content-type') ?? '',
    body,
  };
}

const pathOf = (url: string) => new URL(url).pathname.replace(/^\/media\//, '');

async function privateAccountWithFollower(prefix: string) {
  const alice = await owner.signUp(`${prefix}_owner`, 'correct horse battery', 'Owner');
  const patched = await owner.call('PATCH', '/v1/me', {
    token: alice.accessToken,
    json: { isPrivate: true },
  });
  if (patched.status !== 200) throw new Error(`PATCH /v1/me: ${patched.status}`);
  const bob = await friend.signUp(`${prefix}_friend`, 'correct horse battery', 'Friend');
  await friend.call('POST', `/v1/users/${alice.user.id}/follow`, { token: bob.accessToken });
  await waitFor('the follow request arrives', async () => {
    const res = await owner.call('POST', `/v1/follow-requests/${bob.user.id}/approve`, {
      token: alice.accessToken,
    });
    return res.status < 300 ? true : undefined;
  });
  const eve = await stranger.signUp(`${prefix}_stranger`, 'correct horse battery', 'Stranger');
  return { alice, bob, eve };
}

test.serial(
  "a private account's photos: the owner and an approved follower get working signed URLs, nobody else gets bytes",
  async (t) => {
    const { alice, bob, eve } = await privateAccountWithFollower('priv');
    const { id, status } = await post(alice, await photo(30));
    t.is(status, 'published');

    const own = await owner.call<Post>('GET', `/v1/posts/${id}`, { token: alice.accessToken });
    t.is(own.status, 200);
    const renditions = own.body.media.renditions;
    t.true(renditions.length >= 6);
    for (const r of renditions) {
      t.regex(
        r.url,
        new RegExp(`^${running.url}/media/${id}/[a-z0-9]+\\.(jpg|webp)\\?e=\\d+&s=[A-Za-z0-9_-]{43}$`),
      );
      const got = await fetchMedia(owner, r.url);
      t.is(got.status, 200, r.url);
      t.is(got.type, r.format === 'webp' ? 'image/webp' : 'image/jpeg');
      const meta = await sharp(got.body).metadata();
      t.is(meta.format, r.format === 'webp' ? 'webp' : 'jpeg', `${r.url} is the photo`);
    }

    // The owner's feed carries the same signed URLs (same key, same time bucket, so cacheable pages).
    const feedItem = await waitFor('the post is in the owner’s feed', async () => {
      const res = await owner.call<{ items: Post[] }>('GET', '/v1/feed', { token: alice.accessToken });
      return res.body.items?.find((p) => p.id === id);
    });
    for (const r of feedItem.media.renditions) {
      t.true(verifyMediaUrl(r.url, running.mediaUrlKey).valid, r.url);
      t.is((await fetchMedia(owner, r.url)).status, 200, r.url);
    }
    t.deepEqual(
      feedItem.media.renditions.map((r) => pathOf(r.url)).sort(),
      renditions.map((r) => pathOf(r.url)).sort(),
    );

    // An approved follower, from another machine, gets the post and its photos.
    const seen = await friend.call<Post>('GET', `/v1/posts/${id}`, { token: bob.accessToken });
    t.is(seen.status, 200);
    const first = seen.body.media.renditions[0] as Rendition;
    t.is((await fetchMedia(friend, first.url)).status, 200);

    // A stranger and an anonymous client get no post, so no URL; nothing they can build serves bytes.
    t.is((await stranger.call('GET', `/v1/posts/${id}`, { token: eve.accessToken })).status, 404);
    t.is((await anonymous.call('GET', `/v1/posts/${id}`)).status, 404);
    const grid = await stranger.call<{ items: Post[] }>('GET', `/v1/users/${alice.user.id}/posts`, {
      token: eve.accessToken,
    });
    t.false(JSON.stringify(grid.body).includes(`/media/${id}/`), 'no URL of it in the grid');
    for (const client of [stranger, anonymous]) {
      for (const r of renditions) {
        const plain = await fetchMedia(client, `/media/${pathOf(r.url)}`);
        t.is(plain.status, 403, `the plain path of ${r.name}.${r.format}`);
        t.regex(plain.type, /problem\+json/);
        const forged = signedMediaUrl(
          `${running.url}/media`,
          'a-guessed-key-a-guessed-key-0123',
          pathOf(r.url),
          2e9,
        );
        t.is((await fetchMedia(client, forged)).status, 403, 'a signature made with another key');
      }
    }
  },
);

test.serial(
  'tampered, foreign and expired signatures are refused; the cache hits across signatures',
  async (t) => {
    const alice = await owner.signUp('sig_owner', 'correct horse battery', 'Owner');
    const { id } = await post(alice, await photo(90));
    const own = await owner.call<Post>('GET', `/v1/posts/${id}`, { token: alice.accessToken });
    const jpeg = own.body.media.renditions.find((r) => r.name === '640' && r.format === 'jpeg') as Rendition;
    const thumb = own.body.media.renditions.find(
      (r) => r.name === 'thumb' && r.format === 'jpeg',
    ) as Rendition;
    const url = new URL(jpeg.url);
    const e = url.searchParams.get('e') as string;
    const s = url.searchParams.get('s') as string;
    const base = `${url.origin}${url.pathname}`;
    const other = new URL(thumb.url).searchParams.get('s') as string;
    const flipped = `${s.slice(0, 7)}${s[7] === 'Q' ? 'R' : 'Q'}${s.slice(8)}`;
    const refused: Array<[string, string]> = [
      [`${base}?e=${e}&s=${flipped}`, 'a tampered signature'],
      [`${base}?e=${e}&s=${other}`, "another rendition's signature"],
      [`${base}?e=${Number(e) + 86_400}&s=${s}`, 'a later expiry with the old signature'],
      [`${base}?e=${e}&s=${s}=`, 'padding added'],
      [
        signedMediaUrl(
          `${running.url}/media`,
          running.mediaUrlKey,
          pathOf(jpeg.url),
          Math.floor(Date.now() / 1000) - 60,
        ),
        'expired',
      ],
    ];
    for (const [candidate, what] of refused) {
      const got = await fetchMedia(anonymous, candidate);
      t.is(got.status, 403, what);
      t.regex(got.type, /problem\+json/, what);
      t.is(got.body.includes(Buffer.from('JFIF')), false, `${what}: no image bytes`);
    }

    // Two URLs of one file in different time buckets (different expiry, different signature): one cached copy.
    const now = Math.floor(Date.now() / 1000);
    const bucketA = signedMediaUrl(
      `${running.url}/media`,
      running.mediaUrlKey,
      pathOf(thumb.url),
      now + 7200,
    );
    const bucketB = signedMediaUrl(
      `${running.url}/media`,
      running.mediaUrlKey,
      pathOf(thumb.url),
      now + 10_800,
    );
    t.not(bucketA, bucketB);
    const a = await fetchMedia(anonymous, bucketA);
    const b = await fetchMedia(stranger, bucketB);
    t.is(a.status, 200);
    t.is(b.status, 200);
    t.deepEqual(a.body, b.body);
    // HIT, or REVALIDATED (a 304 from S3) if the copy just outlived its validity: either way not a new copy.
    t.true(['HIT', 'REVALIDATED'].includes(b.cache ?? ''), `second signature: ${b.cache}`);
  },
);

test.serial(
  "after DELETE the post's URLs stop serving within 60 s, and the same bytes become a new post",
  async (t) => {
    const alice = await owner.signUp('del_owner', 'correct horse battery', 'Owner');
    const bytes = await photo(150);
    const { id } = await post(alice, bytes);
    const own = await owner.call<Post>('GET', `/v1/posts/${id}`, { token: alice.accessToken });
    const urls = own.body.media.renditions.map((r) => r.url);
    // Warm the gateway's cache with every rendition.
    for (const url of urls) t.is((await fetchMedia(owner, url)).status, 200);
    t.is((await fetchMedia(owner, urls[0] as string)).cache, 'HIT');

    t.is((await owner.call('DELETE', `/v1/posts/${id}`, { token: alice.accessToken })).status, 204);
    const deletedAt = Date.now();
    await waitFor(
      'every URL of the deleted post stops serving bytes',
      async () => {
        const statuses = await Promise.all(urls.map(async (url) => (await fetchMedia(owner, url)).status));
        return statuses.every((s) => s === 404) ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );
    t.log(`served nothing ${((Date.now() - deletedAt) / 1000).toFixed(1)} s after the delete`);
    const gone = await fetchMedia(owner, urls[0] as string);
    t.is(gone.status, 404);
    t.regex(gone.type, /problem\+json/);

    // The same bytes again: a new media and a new post, not the deleted one back.
    const again = await post(alice, bytes);
    t.not(again.id, id);
    t.is(again.status, 'published');
    const fresh = await owner.call<Post>('GET', `/v1/posts/${again.id}`, { token: alice.accessToken });
    t.is(fresh.status, 200);
    t.is((await fetchMedia(owner, fresh.body.media.renditions[0]?.url as string)).status, 200);
    t.is((await owner.call('GET', `/v1/posts/${id}`, { token: alice.accessToken })).status, 404);
  },
);

test.serial('after a rejection the same bytes can be uploaded again as a new media', async (t) => {
  const alice = await owner.signUp('rej_owner', 'correct horse battery', 'Owner');
  const whole = await photo(200);
  const truncated = whole.subarray(0, Math.floor(whole.length / 2)); // a JPEG signature, then nothing
  const first = await post(alice, truncated);
  t.is(first.status, 'rejected');
  const second = await post(alice, truncated);
  t.not(second.id, first.id, 'not the rejected upload again');
  t.is(second.status, 'rejected');
});
