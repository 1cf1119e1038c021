import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import { UploadErrorCodes } from '../src/domain/errors.ts';
import {
  countRows,
  type Fixture,
  listKeys,
  multipart,
  openFixture,
  photo,
  upload,
  userOn,
} from './helpers.ts';

const MiB = 1024 * 1024;
// Above S3's 5 MiB part size, so an over-limit photo has already sent a part when it is refused.
const LIMIT = 6 * MiB;

let fx: Fixture;
test.before(async () => {
  fx = await openFixture({ UPLOAD_MAX_BYTES: String(LIMIT) });
});
test.after.always(async () => {
  await fx?.close();
  await stopTestInfra();
});

/** `size` bytes that start like a JPEG: upload only sniffs the type, decoding is media-processing's job. */
function jpegLike(size: number): Buffer {
  const data = randomBytes(size);
  data.set([0xff, 0xd8, 0xff, 0xe0], 0);
  return data;
}

test.serial('a photo one byte over the limit is 413 and leaves no object or row behind', async (t) => {
  const res = await upload(fx.svc, fx.keys, userOn(3), [photo(jpegLike(LIMIT + 1))]);
  t.is(res.statusCode, 413);
  t.like(res.json(), { status: 413, code: UploadErrorCodes.TooLarge });
  t.deepEqual(await listKeys(fx.s3, fx.ns.s3.bucket), []);
  t.is(await countRows(fx.svc), 0);
});

async function portOf(): Promise<number> {
  if (!fx.svc.app.server.listening) await fx.svc.app.listen({ port: 0, host: '127.0.0.1' });
  return (fx.svc.app.server.address() as AddressInfo).port;
}

test.serial(
  'a photo far over the limit, sent over a real connection, is 413 with nothing stored',
  async (t) => {
    const port = await portOf();
    const { payload, headers } = multipart([
      { name: 'caption', value: 'too big' },
      photo(jpegLike(3 * LIMIT)),
    ]);
    const res = await fetch(`http://127.0.0.1:${port}/v1/media`, {
      method: 'POST',
      body: payload,
      headers: { ...headers, authorization: `Bearer ${fx.keys.tokenFor(userOn(11))}` },
    });
    t.is(res.status, 413);
    t.deepEqual(await listKeys(fx.s3, fx.ns.s3.bucket), []);
    t.is(await countRows(fx.svc), 0);
  },
);

test.serial('a photo of exactly the limit is accepted and stored whole (multipart upload)', async (t) => {
  const data = jpegLike(LIMIT);
  const res = await upload(fx.svc, fx.keys, userOn(9), [photo(data)]);
  t.is(res.statusCode, 202, res.body);
  const { id } = res.json<{ id: string }>();
  t.deepEqual(await listKeys(fx.s3, fx.ns.s3.bucket), [`originals/${id}`]);
  t.is(await countRows(fx.svc), 1);
});

test.serial(
  'a large file that is not an image, over a real connection, is 415 and the connection stays usable',
  async (t) => {
    const port = await portOf();
    const { payload, headers } = multipart([
      photo(Buffer.alloc(4 * MiB, 'this is a text file pretending to be a photo\n'), 'cat.jpg', 'image/jpeg'),
    ]);
    const refused = await fetch(`http://127.0.0.1:${port}/v1/media`, {
      method: 'POST',
      body: payload,
      headers: { ...headers, authorization: `Bearer ${fx.keys.tokenFor(userOn(4))}` },
    });
    t.is(refused.status, 415);
    const keysBefore = await listKeys(fx.s3, fx.ns.s3.bucket);
    const rowsBefore = await countRows(fx.svc);
    const small = multipart([photo(jpegLike(1000))]);
    const next = await fetch(`http://127.0.0.1:${port}/v1/media`, {
      method: 'POST',
      body: small.payload,
      headers: { ...small.headers, authorization: `Bearer ${fx.keys.tokenFor(userOn(4))}` },
    });
    t.is(next.status, 202);
    t.is(
      (await listKeys(fx.s3, fx.ns.s3.bucket)).length,
      keysBefore.length + 1,
      'only the good photo was stored',
    );
    t.is(await countRows(fx.svc), rowsBefore + 1);
  },
);
