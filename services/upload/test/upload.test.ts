import { createHash } from 'node:crypto';
import { parseEvent } from '@instantpost/events';
import { shardOf } from '@instantpost/ids';
import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import type { Subscription } from 'nats';
import {
  countRows,
  type Fixture,
  type Format,
  getObject,
  listKeys,
  makeImage,
  openFixture,
  originalsHolding,
  photo,
  upload,
  userOn,
  waitFor,
} from './helpers.ts';

let fx: Fixture;
let uploaded: Subscription;
const events = new Map<string, ReturnType<typeof parseEvent<'media.uploaded'>>>();

test.before(async () => {
  // a small rate limit so the 429 test is quick; every other test uses users of its own
  fx = await openFixture({ UPLOAD_RATE_MAX: '3' });
  uploaded = fx.svc.infra.nc.subscribe(`${fx.ns.nats.prefix}.media.uploaded`);
  void (async () => {
    for await (const msg of uploaded) {
      const parsed = parseEvent<'media.uploaded'>(msg.data, { expectedType: 'media.uploaded' });
      if (parsed.ok) events.set(parsed.event.data.mediaId, parsed);
    }
  })();
});
test.after.always(async () => {
  uploaded?.unsubscribe();
  await fx?.close();
  await stopTestInfra();
});

const CONTENT_TYPES: Record<Format, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
};

for (const [format, shard] of [
  ['jpeg', 2],
  ['png', 9],
  ['webp', 5],
  ['avif', 14],
] as const) {
  test(`a real ${format} is stored under originals/<id> on the owner's shard and announced with its SHA-256`, async (t) => {
    const owner = userOn(shard);
    const image = await makeImage(format);
    // the client's Content-Type is deliberately generic: the type comes from the bytes
    const res = await upload(fx.svc, fx.keys, owner, [
      { name: 'caption', value: `my ${format} #test` },
      photo(image, `x.${format}`, 'application/octet-stream'),
      { name: 'altText', value: 'noise' },
    ]);
    t.is(res.statusCode, 202, res.body);
    const body = res.json<{ id: string; status: string }>();
    t.is(body.status, 'processing');
    t.is(shardOf(body.id), shard, "the media id belongs to the owner's shard");

    const stored = await getObject(fx.s3, fx.ns.s3.bucket, `originals/${body.id}`);
    t.true(stored.body.equals(image), 'the original is stored byte for byte');
    t.is(stored.contentType, CONTENT_TYPES[format]);

    const sha256 = createHash('sha256').update(image).digest('hex');
    const event = await waitFor(`media.uploaded of ${body.id}`, () => events.get(body.id));
    t.true(event.ok);
    if (!event.ok) return;
    t.like(event.event.data, {
      mediaId: body.id,
      ownerId: owner.id,
      bucket: fx.ns.s3.bucket,
      key: `originals/${body.id}`,
      contentType: CONTENT_TYPES[format],
      bytes: image.length,
      sha256,
      caption: `my ${format} #test`,
      altText: 'noise',
    });
    t.is(event.event.source, '/instantpost/upload');
  });
}

test.serial(
  'a text file named cat.jpg sent as image/jpeg is refused with 415 and nothing is stored',
  async (t) => {
    const owner = userOn(3);
    const rowsBefore = await countRows(fx.svc);
    const keysBefore = await listKeys(fx.s3, fx.ns.s3.bucket);
    const res = await upload(fx.svc, fx.keys, owner, [
      photo(Buffer.from('meow, I am definitely a picture of a cat\n'.repeat(50)), 'cat.jpg', 'image/jpeg'),
    ]);
    t.is(res.statusCode, 415);
    t.regex(String(res.headers['content-type']), /^application\/problem\+json/);
    t.regex(res.json<{ detail: string }>().detail, /JPEG, PNG, WebP or AVIF/);
    t.deepEqual(await listKeys(fx.s3, fx.ns.s3.bucket), keysBefore);
    t.is(await countRows(fx.svc), rowsBefore);
  },
);

test('the same owner uploading the same bytes again gets the same media; another owner gets their own', async (t) => {
  const alice = userOn(4);
  const bob = userOn(12);
  const image = await makeImage('jpeg');
  const first = await upload(fx.svc, fx.keys, alice, [photo(image)]);
  const again = await upload(fx.svc, fx.keys, alice, [photo(image), { name: 'caption', value: 'again' }]);
  const bobs = await upload(fx.svc, fx.keys, bob, [photo(image)]);
  t.is(first.statusCode, 202);
  t.is(again.statusCode, 202);
  t.is(bobs.statusCode, 202);
  const aliceId = first.json<{ id: string }>().id;
  t.is(again.json<{ id: string }>().id, aliceId, 'the second upload answers with the first id');
  t.is(again.json<{ duplicate?: boolean }>().duplicate, true);
  const bobId = bobs.json<{ id: string }>().id;
  t.not(bobId, aliceId);
  t.is(shardOf(bobId), 12);

  // exactly one original per media: the duplicate's copy was deleted
  t.deepEqual(
    await originalsHolding(fx.s3, fx.ns.s3.bucket, image),
    [`originals/${aliceId}`, `originals/${bobId}`].sort(),
  );
  // and one event per media
  await waitFor('both media.uploaded events', () => events.get(aliceId) && events.get(bobId));
  t.is(
    [...events.values()].filter(
      (e) => e.ok && e.event.data.sha256 === createHash('sha256').update(image).digest('hex'),
    ).length,
    2,
  );
});

test.serial('without a token the upload is 401 and nothing is stored', async (t) => {
  const rowsBefore = await countRows(fx.svc);
  const res = await upload(fx.svc, fx.keys, false, [photo(await makeImage('png'), 'a.png', 'image/png')]);
  t.is(res.statusCode, 401);
  t.regex(String(res.headers['content-type']), /^application\/problem\+json/);
  t.is(await countRows(fx.svc), rowsBefore);
});

test.serial(
  'a caption over 2200 characters is 400 naming the field, after or before the photo; nothing is left',
  async (t) => {
    const owner = userOn(6);
    const rowsBefore = await countRows(fx.svc);
    const keysBefore = await listKeys(fx.s3, fx.ns.s3.bucket);
    const image = await makeImage('jpeg');
    for (const entries of [
      [photo(image), { name: 'caption', value: 'x'.repeat(2201) }],
      [{ name: 'caption', value: 'x'.repeat(2201) }, photo(image)],
    ]) {
      const res = await upload(fx.svc, fx.keys, owner, entries);
      t.is(res.statusCode, 400);
      t.like(res.json(), { status: 400, field: 'caption' });
    }
    const longAlt = await upload(fx.svc, fx.keys, owner, [
      photo(image),
      { name: 'altText', value: 'a'.repeat(1001) },
    ]);
    t.like(longAlt.json(), { status: 400, field: 'altText' });
    t.deepEqual(await listKeys(fx.s3, fx.ns.s3.bucket), keysBefore, 'the stored photo was deleted again');
    t.is(await countRows(fx.svc), rowsBefore);
  },
);

test('a caption of exactly 2200 characters is accepted', async (t) => {
  const res = await upload(fx.svc, fx.keys, userOn(7), [
    { name: 'caption', value: 'é'.repeat(2200) },
    photo(await makeImage('webp'), 'a.webp', 'image/webp'),
  ]);
  t.is(res.statusCode, 202, res.body);
});

test('a form without a photo, with an empty photo, or with a second file is 400 naming the field', async (t) => {
  const owner = userOn(1);
  const none = await upload(fx.svc, fx.keys, owner, [{ name: 'caption', value: 'hi' }]);
  t.like(none.json(), { status: 400, field: 'photo' });
  const empty = await upload(fx.svc, fx.keys, owner, [photo(Buffer.alloc(0))]);
  t.like(empty.json(), { status: 400, field: 'photo' });
  const other = await upload(fx.svc, fx.keys, userOn(1), [
    { name: 'avatar', filename: 'a.png', contentType: 'image/png', data: await makeImage('png') },
  ]);
  t.like(other.json(), { status: 400, field: 'avatar' });
});

test('a body that is not multipart is 415', async (t) => {
  const res = await fx.svc.app.inject({
    method: 'POST',
    url: '/v1/media',
    payload: { photo: 'aGVsbG8=' },
    headers: { authorization: `Bearer ${fx.keys.tokenFor(userOn(0))}` },
  });
  t.is(res.statusCode, 415);
});

test('uploads are rate limited per user: 429 with Retry-After, other users unaffected', async (t) => {
  const busy = userOn(10);
  const statuses: number[] = [];
  let last: Awaited<ReturnType<typeof upload>> | undefined;
  for (let i = 0; i < 4; i++) {
    last = await upload(fx.svc, fx.keys, busy, [photo(await makeImage('jpeg'))]);
    statuses.push(last.statusCode);
  }
  t.deepEqual(statuses, [202, 202, 202, 429]);
  t.regex(String(last?.headers['content-type']), /^application\/problem\+json/);
  t.true(Number(last?.headers['retry-after']) > 0, 'Retry-After says when to come back');
  const other = await upload(fx.svc, fx.keys, userOn(10), [photo(await makeImage('jpeg'))]);
  t.is(other.statusCode, 202);
});

test('two concurrent uploads of the same bytes by one owner end as one media with one original', async (t) => {
  const owner = userOn(15);
  const image = await makeImage('png', 320, 240);
  const [a, b] = await Promise.all([
    upload(fx.svc, fx.keys, owner, [photo(image, 'a.png', 'image/png')]),
    upload(fx.svc, fx.keys, owner, [photo(image, 'b.png', 'image/png')]),
  ]);
  t.is(a.statusCode, 202);
  t.is(b.statusCode, 202);
  const id = a.json<{ id: string }>().id;
  t.is(b.json<{ id: string }>().id, id);
  t.deepEqual(await originalsHolding(fx.s3, fx.ns.s3.bucket, image), [`originals/${id}`]);
});
