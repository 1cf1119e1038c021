import test from 'ava';
import sharp from 'sharp';
import { UnsafeImageError } from '../src/domain/errors.ts';
import { configureSharp, renderImage } from '../src/domain/image.ts';
import { RenderThread } from '../src/domain/render-thread.ts';
import { phonePhoto, pngBomb } from './helpers.ts';

const LIMITS = { maxPixels: 50_000_000 };

test('the render thread gives what renderImage gives in process: the same sizes, formats and bytes', async (t) => {
  configureSharp();
  const thread = new RenderThread();
  t.teardown(() => thread.close());
  const photo = await phonePhoto(1350, 1080);
  let progress = 0;
  const [there, here] = await Promise.all([
    thread.render(photo, {
      ...LIMITS,
      onProgress: () => {
        progress++;
      },
    }),
    renderImage(photo, LIMITS),
  ]);
  t.true(progress > 0, 'progress reaches the caller (the consumer heartbeat)');
  t.deepEqual(
    { width: there.width, height: there.height, blurhash: there.blurhash },
    { width: here.width, height: here.height, blurhash: here.blurhash },
  );
  t.deepEqual(
    there.renditions.map((r) => [r.name, r.format, r.width, r.height, Buffer.isBuffer(r.body)]),
    here.renditions.map((r) => [r.name, r.format, r.width, r.height, true]),
  );
  there.renditions.forEach((r, i) => {
    t.true(r.body.equals(here.renditions[i]?.body as Buffer), `${r.name}.${r.format}: the same bytes`);
  });
});

test('an unsafe image is still an UnsafeImageError with its reason for the owner, across the thread', async (t) => {
  const thread = new RenderThread();
  t.teardown(() => thread.close());
  const err = await t.throwsAsync(thread.render(pngBomb(), LIMITS), { instanceOf: UnsafeImageError });
  t.regex(err?.reason ?? '', /too large to process/);
  const text = await t.throwsAsync(thread.render(Buffer.from('not an image at all'), LIMITS), {
    instanceOf: UnsafeImageError,
  });
  t.regex(text?.reason ?? '', /not an image we accept/);
});

test('a render thread that stops fails the images in flight as retryable errors; the next image gets a new thread', async (t) => {
  const thread = new RenderThread();
  t.teardown(() => thread.close());
  const photo = await phonePhoto(1350, 1080);
  const inFlight = thread.render(photo, LIMITS);
  await thread.close();
  const err = await t.throwsAsync(inFlight);
  t.false(err instanceof UnsafeImageError, 'not a rejection of the image: the consumer retries it');
  const again = await thread.render(photo, LIMITS);
  t.is(again.renditions.length, 8);
});

test("an image sent while the old thread is still stopping renders on the new one: the old thread's exit fails only its own images", async (t) => {
  const thread = new RenderThread();
  t.teardown(() => thread.close());
  const photo = await phonePhoto(1350, 1080);
  const old = thread.render(photo, LIMITS);
  const closing = thread.close(); // not awaited: the old thread exits while the next image is in flight
  const next = thread.render(photo, LIMITS);
  await t.throwsAsync(old);
  await closing;
  t.is((await next).renditions.length, 8);
});

test("loading sharp on the thread does not turn libvips' operation cache back on for the process", async (t) => {
  configureSharp();
  t.is(sharp.cache().items.max, 0);
  const thread = new RenderThread();
  t.teardown(() => thread.close());
  await thread.render(await phonePhoto(300, 200), LIMITS);
  t.is(sharp.cache().items.max, 0, 'still off after the thread loaded sharp (which turns it on)');
});
