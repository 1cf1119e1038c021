import test from 'ava';
import { type Fixture, openFixture, phonePhoto, plainImage, pngBomb } from './helpers.ts';

let fx: Fixture;

test.before(async () => {
  // A small pixel limit keeps the test quick; the bomb declares 400 MP, far above the default of 100 MP too.
  fx = await openFixture({ MEDIA_MAX_PIXELS: '50000000', MEDIA_MAX_BYTES: '2000000' });
});
test.after.always(async () => {
  await fx?.close();
});

/**
 * An unsafe original gives media.rejected with a reason at once: one attempt, no renditions, and the
 * delivery is terminated (a dead letter `BUS_NON_RETRYABLE` records it for operators, deliveries 1).
 */
async function assertRejected(t: import('ava').ExecutionContext, bytes: Buffer, reason: RegExp) {
  const uploaded = await fx.upload(bytes);
  await fx.publishUploaded(uploaded);
  const rejected = await fx.waitForEvent('media.rejected', uploaded.data.mediaId);
  t.is(rejected.data.ownerId, uploaded.data.ownerId);
  t.regex(rejected.data.reason, reason);
  t.deepEqual(await fx.renditionKeys(uploaded.data.mediaId), [], 'no renditions written');
  const processed = (await fx.events('media.processed')).filter(
    (e) => e.data.mediaId === uploaded.data.mediaId,
  );
  t.is(processed.length, 0, 'no media.processed');

  const letter = await waitForDeadLetter(uploaded.data.mediaId);
  t.is(letter.deliveries, 1, 'not retried');
  t.is(letter.error.code, 'BUS_NON_RETRYABLE');
  t.regex(letter.error.message, reason);
  const record = await fx.manifest.find(uploaded.data.mediaId);
  t.is(record?.status, 'rejected');
  t.is(record?.attempts, 1, 'one attempt');
  t.is(record?.reason, rejected.data.reason);
}

async function waitForDeadLetter(mediaId: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const letters = await fx.deadLetters();
    const letter = letters.find(
      (l) => (l.event as { data?: { mediaId?: string } }).data?.mediaId === mediaId,
    );
    if (letter) return letter;
    if (Date.now() > deadline) throw new Error(`no dead letter for ${mediaId}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('an original whose bytes are not the uploaded ones (SHA-256 differs) is rejected, never rendered', async (t) => {
  const uploaded = await fx.upload(await plainImage(400, 300, 'jpeg'));
  await fx.publishUploaded({ ...uploaded, data: { ...uploaded.data, sha256: 'ab'.repeat(32) } });
  const rejected = await fx.waitForEvent('media.rejected', uploaded.data.mediaId);
  t.regex(rejected.data.reason, /not the one that was uploaded/);
  t.deepEqual(await fx.renditionKeys(uploaded.data.mediaId), [], 'no renditions written');
});

test('a truncated JPEG is rejected as damaged', async (t) => {
  const photo = await phonePhoto(1200, 900);
  await assertRejected(t, photo.subarray(0, Math.floor(photo.length * 0.6)), /damaged or incomplete/);
});

test('random bytes behind a JPEG signature are rejected as damaged', async (t) => {
  const bytes = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(4096, 0x5a)]);
  await assertRejected(t, bytes, /damaged/);
});

test('a text file (declared image/jpeg) is rejected as not an image we accept', async (t) => {
  await assertRejected(
    t,
    Buffer.from('this is not a cat, it is a text file\n'.repeat(40)),
    /not an image we accept/,
  );
});

test('a GIF is rejected: only JPEG, PNG, WebP and AVIF are accepted', async (t) => {
  const { default: sharp } = await import('sharp');
  const gif = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#fff' } })
    .gif()
    .toBuffer();
  await assertRejected(t, gif, /Only JPEG, PNG, WebP and AVIF/);
});

test('a decompression bomb (20000×20000 PNG of ~50 KB) is rejected from its header, never decoded', async (t) => {
  const bomb = pngBomb(20_000, 20_000);
  t.true(bomb.length < 100_000, `tiny on disk: ${bomb.length} bytes`);
  const rssBefore = process.memoryUsage().rss;
  await assertRejected(t, bomb, /too large to process: 20000×20000 pixels \(at most 50 megapixels\)/);
  const grown = process.memoryUsage().rss - rssBefore;
  // Decoding would need 400 MB at one byte per pixel; the header check needs nothing of the sort.
  t.true(grown < 150 * 1024 * 1024, `memory stayed bounded: +${Math.round(grown / 1024 / 1024)} MB`);
});

test('an original over MEDIA_MAX_BYTES is rejected from its Content-Length, without downloading it', async (t) => {
  const big = Buffer.concat([await plainImage(100, 100, 'png'), Buffer.alloc(2_100_000)]);
  await assertRejected(t, big, /too large to process: 2\d{6} bytes \(at most 2000000\)/);
});

test('after rejections the worker keeps processing the next images', async (t) => {
  const bad = await fx.upload(pngBomb(12_000, 12_000));
  const good = await fx.upload(await plainImage(800, 600, 'jpeg'));
  await fx.publishUploaded(bad);
  await fx.publishUploaded(good);
  const rejected = await fx.waitForEvent('media.rejected', bad.data.mediaId);
  t.regex(rejected.data.reason, /12000×12000/);
  const processed = await fx.waitForEvent('media.processed', good.data.mediaId);
  t.is(processed.data.renditions.length, 8);
});

test('a malformed media.uploaded (no sha256) is dead-lettered with the reason; the next event is processed', async (t) => {
  const good = await fx.upload(await plainImage(400, 300, 'jpeg'));
  const { sha256: _missing, ...data } = good.data;
  const malformed = { ...good, id: 'malformed-1', data: { ...data, mediaId: '42' } };
  // A hand-written event, as `nats pub` sends it: a core publish with no headers.
  fx.ctx.infra.nc.publish(`${fx.ns.nats.prefix}.media.uploaded`, JSON.stringify(malformed));
  await fx.publishUploaded(good);
  await fx.waitForEvent('media.processed', good.data.mediaId);
  const letter = await waitForDeadLetterWith((l) => (l.event as { id?: string }).id === 'malformed-1');
  t.is(letter.error.code, 'SCHEMA_VIOLATION');
  t.regex(letter.error.message, /sha256/);
  t.is(await fx.manifest.find('42'), undefined, 'nothing recorded for it');
});

async function waitForDeadLetterWith(
  match: (l: Awaited<ReturnType<Fixture['deadLetters']>>[number]) => boolean,
) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const letter = (await fx.deadLetters()).find(match);
    if (letter) return letter;
    if (Date.now() > deadline) throw new Error('no such dead letter');
    await new Promise((r) => setTimeout(r, 100));
  }
}
