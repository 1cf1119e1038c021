import test from 'ava';
import { isBlurhashValid } from 'blurhash';
import sharp from 'sharp';
import { exifTags, type Fixture, GPS_IFD_TAG, openFixture, phonePhoto, plainImage } from './helpers.ts';

let fx: Fixture;

test.before(async () => {
  fx = await openFixture();
});
test.after.always(async () => {
  await fx?.close();
});

const CACHE_CONTROL = 'public, max-age=31536000, immutable';

test('a 4000×3000 phone JPEG with EXIF orientation 6 and GPS becomes upright renditions with no metadata', async (t) => {
  const original = await phonePhoto(4000, 3000);
  const input = await sharp(original).metadata();
  t.is(input.orientation, 6, 'the input carries orientation 6');
  t.true(exifTags(input.exif as Buffer).includes(GPS_IFD_TAG), 'the input carries a GPS position');

  const uploaded = await fx.upload(original, { caption: 'sunset #beach', altText: 'a red and blue photo' });
  await fx.publishUploaded(uploaded);
  const processed = await fx.waitForEvent('media.processed', uploaded.data.mediaId);
  const { data } = processed;

  t.is(data.ownerId, uploaded.data.ownerId);
  t.is(data.caption, 'sunset #beach', 'caption passed through');
  t.is(data.altText, 'a red and blue photo', 'alt text passed through');
  t.deepEqual([data.width, data.height], [3000, 4000], 'the upright size: width and height swapped');
  t.true(isBlurhashValid(data.blurhash).result, `valid blurhash: ${data.blurhash}`);

  const expected = [
    ['1080', 1080, 1440],
    ['640', 640, 853],
    ['320', 320, 427],
    ['thumb', 150, 150],
  ] as const;
  const listed = data.renditions.map((r) => `${r.name}.${r.format} ${r.width}×${r.height} ${r.key}`).sort();
  const wanted = expected
    .flatMap(([name, w, h]) =>
      (['jpeg', 'webp'] as const).map(
        (format) =>
          `${name}.${format} ${w}×${h} media/${data.mediaId}/${name}.${format === 'jpeg' ? 'jpg' : 'webp'}`,
      ),
    )
    .sort();
  t.deepEqual(listed, wanted, 'four sizes in JPEG and WebP under media/<id>/');

  for (const rendition of data.renditions) {
    const object = await fx.getObject(rendition.key);
    t.is(object.contentType, rendition.format === 'jpeg' ? 'image/jpeg' : 'image/webp', rendition.key);
    t.is(object.cacheControl, CACHE_CONTROL, rendition.key);
    const meta = await sharp(object.body).metadata();
    t.is(meta.format, rendition.format, `${rendition.key} is really ${rendition.format}`);
    t.deepEqual(
      [meta.width, meta.height],
      [rendition.width, rendition.height],
      `${rendition.key} stored size`,
    );
    t.is(meta.exif, undefined, `${rendition.key} carries no EXIF (no GPS)`);
    t.is(meta.orientation, undefined, `${rendition.key} needs no orientation flag`);
    t.is(meta.xmp, undefined, `${rendition.key} carries no XMP`);
  }

  // Orientation 6 turns the stored top (red) to the right: the upright image is blue left, red right.
  const small = data.renditions.find((r) => r.name === '320' && r.format === 'jpeg');
  const { data: pixels, info } = await sharp((await fx.getObject(small?.key ?? '')).body)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number) => [
    ...pixels.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3),
  ];
  const [lr, , lb] = at(20, Math.floor(info.height / 2));
  const [rr, , rb] = at(info.width - 20, Math.floor(info.height / 2));
  t.true((lb as number) > 200 && (lr as number) < 60, `left is blue: ${at(20, 200)}`);
  t.true((rr as number) > 200 && (rb as number) < 60, `right is red: ${at(info.width - 20, 200)}`);

  const record = await fx.manifest.find(data.mediaId);
  t.is(record?.status, 'processed');
  t.deepEqual(record?.result, data, 'the manifest keeps what was published');
});

test('a 200×100 PNG is never upscaled; its thumb is still a 150×150 centre crop', async (t) => {
  const uploaded = await fx.upload(await plainImage(200, 100, 'png'));
  await fx.publishUploaded(uploaded);
  const { data } = await fx.waitForEvent('media.processed', uploaded.data.mediaId);
  t.deepEqual([data.width, data.height], [200, 100]);
  for (const r of data.renditions) {
    const meta = await sharp((await fx.getObject(r.key)).body).metadata();
    if (r.name === 'thumb') t.deepEqual([meta.width, meta.height, r.width, r.height], [150, 150, 150, 150]);
    else
      t.deepEqual(
        [meta.width, meta.height, r.width, r.height],
        [200, 100, 200, 100],
        `${r.key} not upscaled`,
      );
  }
});

for (const format of ['webp', 'avif', 'png'] as const) {
  test(`a ${format.toUpperCase()} original works: 1000×800 gives 1000 / 640 / 320 wide renditions`, async (t) => {
    const uploaded = await fx.upload(await plainImage(1000, 800, format));
    await fx.publishUploaded(uploaded);
    const { data } = await fx.waitForEvent('media.processed', uploaded.data.mediaId);
    const widths = Object.fromEntries(
      data.renditions.map((r) => [`${r.name}.${r.format}`, [r.width, r.height]]),
    );
    t.deepEqual(widths, {
      '1080.jpeg': [1000, 800],
      '1080.webp': [1000, 800],
      '640.jpeg': [640, 512],
      '640.webp': [640, 512],
      '320.jpeg': [320, 256],
      '320.webp': [320, 256],
      'thumb.jpeg': [150, 150],
      'thumb.webp': [150, 150],
    });
  });
}

test('the same original delivered twice (two media.uploaded events) has one media.processed effect', async (t) => {
  const uploaded = await fx.upload(await plainImage(640, 480, 'jpeg'));
  await fx.publishUploaded(uploaded, 'first-delivery');
  const first = await fx.waitForEvent('media.processed', uploaded.data.mediaId);
  // An operator replay or a republish past the duplicate window: a new event id, the same original.
  await fx.publishUploaded(uploaded, 'second-delivery');
  const record = await waitForAttempts(fx, uploaded.data.mediaId, 2);
  t.is(record.status, 'processed');

  const processed = (await fx.events('media.processed')).filter(
    (e) => e.data.mediaId === uploaded.data.mediaId,
  );
  t.is(processed.length, 1, 'the republished result has the same event id: JetStream stored it once');
  t.is(processed[0]?.id, first.id);
  const objects = await fx.renditionKeys(uploaded.data.mediaId);
  t.is(objects.length, 8, 'the same eight keys, nothing more');
});

async function waitForAttempts(f: Fixture, mediaId: string, attempts: number) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const record = await f.manifest.find(mediaId);
    if (record && record.attempts >= attempts && record.status !== 'processing') return record;
    if (Date.now() > deadline) throw new Error(`media ${mediaId} not attempted ${attempts} times`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('colours are converted to sRGB: a Display P3 photo, CMYK, 16-bit and transparent PNGs', async (t) => {
  const colour = { r: 200, g: 100, b: 50 };
  const base = () => sharp({ create: { width: 300, height: 200, channels: 3, background: colour } });
  const inputs = {
    // Stored as P3 numbers (about 187, 106, 63) with a P3 profile: the renditions must carry the sRGB numbers.
    p3: await base().withIccProfile('p3').jpeg({ quality: 100 }).toBuffer(),
    cmyk: await base().toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer(),
    png16: await base().toColourspace('rgb16').png().toBuffer(),
    transparent: await sharp({
      create: { width: 300, height: 200, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .png()
      .toBuffer(),
  };
  const stored = await sharp(inputs.p3, { ignoreIcc: true }).raw().toBuffer();
  t.true(
    Math.abs((stored[0] as number) - colour.r) > 8,
    `P3 input stores other numbers: ${[...stored.subarray(0, 3)]}`,
  );
  const expected: Record<keyof typeof inputs, number[]> = {
    p3: [200, 100, 50],
    cmyk: [200, 100, 50],
    png16: [200, 100, 50],
    transparent: [255, 255, 255], // flattened on white
  };
  for (const [name, bytes] of Object.entries(inputs) as [keyof typeof inputs, Buffer][]) {
    const uploaded = await fx.upload(bytes);
    await fx.publishUploaded(uploaded);
    const { data } = await fx.waitForEvent('media.processed', uploaded.data.mediaId);
    const jpeg = data.renditions.find((r) => r.name === '320' && r.format === 'jpeg');
    const body = (await fx.getObject(jpeg?.key ?? '')).body;
    const meta = await sharp(body).metadata();
    t.deepEqual([meta.space, meta.channels, meta.depth, meta.icc], ['srgb', 3, 'uchar', undefined], name);
    const pixel = [...(await sharp(body).raw().toBuffer()).subarray(0, 3)];
    const close = pixel.every(
      (v, i) => Math.abs(v - (expected[name][i] as number)) <= (name === 'cmyk' ? 40 : 6),
    );
    t.true(close, `${name}: ${pixel} ≈ ${expected[name]}`);
  }
});

test('an image narrower than 15:1 is processed; a 3000×150 strip is rejected', async (t) => {
  const ok = await fx.upload(await plainImage(1500, 100, 'png'));
  const strip = await fx.upload(await plainImage(3000, 150, 'png'));
  await fx.publishUploaded(ok);
  await fx.publishUploaded(strip);
  const processed = await fx.waitForEvent('media.processed', ok.data.mediaId);
  const thumb = processed.data.renditions.find((r) => r.name === 'thumb');
  t.deepEqual([thumb?.width, thumb?.height], [150, 150]);
  const rejected = await fx.waitForEvent('media.rejected', strip.data.mediaId);
  t.regex(rejected.data.reason, /too narrow: 3000×150 pixels \(at most 15:1\)/);
});

test('a hand-injected media.uploaded (core publish, no headers, as `nats pub` sends it) is processed', async (t) => {
  const uploaded = await fx.upload(await plainImage(500, 500, 'jpeg'));
  fx.ctx.infra.nc.publish(`${fx.ns.nats.prefix}.media.uploaded`, JSON.stringify(uploaded));
  const { data } = await fx.waitForEvent('media.processed', uploaded.data.mediaId);
  t.is(data.renditions.length, 8);
});

test('a phone-sized 1080×1350 JPEG: each size from the one above keeps its picture; JPEGs are baseline', async (t) => {
  // Top half red, bottom half blue (no EXIF rotation): every rendition keeps the split where it was.
  const original = await sharp({ create: { width: 1080, height: 1350, channels: 3, background: '#0000ff' } })
    .composite([
      {
        input: await sharp({ create: { width: 1080, height: 675, channels: 3, background: '#ff0000' } })
          .png()
          .toBuffer(),
        top: 0,
        left: 0,
      },
    ])
    .jpeg({ quality: 85 })
    .toBuffer();
  const uploaded = await fx.upload(original);
  await fx.publishUploaded(uploaded);
  const { data } = await fx.waitForEvent('media.processed', uploaded.data.mediaId);
  const sizes = data.renditions.map((r) => `${r.name}.${r.format} ${r.width}×${r.height}`).sort();
  t.deepEqual(sizes, [
    '1080.jpeg 1080×1350',
    '1080.webp 1080×1350',
    '320.jpeg 320×400',
    '320.webp 320×400',
    '640.jpeg 640×800',
    '640.webp 640×800',
    'thumb.jpeg 150×150',
    'thumb.webp 150×150',
  ]);
  for (const rendition of data.renditions) {
    const body = (await fx.getObject(rendition.key)).body;
    const meta = await sharp(body).metadata();
    t.is(meta.format, rendition.format, rendition.key);
    if (rendition.format === 'jpeg') t.false(meta.isProgressive, `${rendition.key} is a baseline JPEG`);
    const { data: pixels, info } = await sharp(body).raw().toBuffer({ resolveWithObject: true });
    const at = (y: number) => [
      ...pixels.subarray(y * info.width * info.channels, y * info.width * info.channels + 3),
    ];
    const [tr, , tb] = at(Math.floor(info.height * 0.25));
    const [br, , bb] = at(Math.floor(info.height * 0.75));
    t.true(
      (tr as number) > 200 && (tb as number) < 60,
      `${rendition.key}: top is red (${at(Math.floor(info.height * 0.25))})`,
    );
    t.true(
      (bb as number) > 200 && (br as number) < 60,
      `${rendition.key}: bottom is blue (${at(Math.floor(info.height * 0.75))})`,
    );
  }
  t.true(isBlurhashValid(data.blurhash).result, `valid blurhash: ${data.blurhash}`);
});
