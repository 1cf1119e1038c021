/**
 * The upload pipeline, photo by photo: `POST /v1/media` of a JPEG (phone-sized 1080×1350, or 12 MP) → upload (S3 original, outbox) →
 * media-processing (decode, 8 renditions, blurhash, S3) → metadata (post) → feed (fan-out). Each photo is
 * followed by polling `GET /v1/media/:id/status` (owner) until `published` and one follower's
 * `GET /v1/feed` until the post is on it; `inFlight` photos are kept going at once.
 */
import { performance } from 'node:perf_hooks';
import { renderImage } from '@instantpost/media-processing/harness';
import sharp from 'sharp';
import { median, percentile } from '../stats.ts';
import { coresUsed, cpuMsOf, formatCores, type ProcessGroups, sampleCpu } from './cpu.ts';
import { type HttpClient, photoUpload } from './http.ts';
import { withOwnCpus } from './pin.ts';
import { pool } from './seed.ts';

let uploadsSoFar = 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A 12-megapixel (4000×3000) camera-like JPEG: noise keeps it realistically large (several MB). */
export async function twelveMegapixelPhoto(): Promise<Buffer> {
  return sharp({
    create: {
      width: 4000,
      height: 3000,
      channels: 3,
      background: { r: 90, g: 140, b: 200 },
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  })
    .jpeg({ quality: 90 })
    .toBuffer();
}

/**
 * A phone-sized photo as apps upload it after resizing on the phone: 1080×1350 (4:5) JPEG of ~110 KB —
 * a smooth gradient with light sensor-like noise at quality 80.
 */
export async function phonePhoto(): Promise<Buffer> {
  const width = 1080;
  const height = 1350;
  const gradient = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs>` +
      '<linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#e8a25a"/>' +
      '<stop offset="0.5" stop-color="#5a8cc8"/><stop offset="1" stop-color="#2d4a33"/></linearGradient></defs>' +
      `<rect width="${width}" height="${height}" fill="url(#g)"/>` +
      `<circle cx="540" cy="600" r="260" fill="#f4e3c1" opacity="0.8"/></svg>`,
  );
  const noise = await sharp({
    create: {
      width,
      height,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 13 },
    },
  })
    .raw()
    .toBuffer();
  return sharp(gradient)
    .composite([{ input: noise, raw: { width, height, channels: 3 }, blend: 'soft-light' }])
    .jpeg({ quality: 80 })
    .toBuffer();
}

/** The same JPEG with a comment segment (`FF FE`) carrying `n` after SOI: distinct bytes, same image. */
export function distinct(jpeg: Buffer, n: number): Buffer {
  const text = Buffer.from(`bench photo ${n}`);
  const segment = Buffer.alloc(4 + text.length);
  segment.writeUInt16BE(0xfffe, 0);
  segment.writeUInt16BE(2 + text.length, 2);
  text.copy(segment, 4);
  return Buffer.concat([jpeg.subarray(0, 2), segment, jpeg.subarray(2)]);
}

export interface PipelineResult {
  photos: number;
  /**
   * Photos published per second, sustained: after the first `inFlight` were published (the pipeline
   * filled: every stage busy) to the last one; first upload sent to last published when there are fewer
   * than three times `inFlight` photos.
   */
  publishedPerSecond: number;
  /** First upload sent to last photo published. */
  seconds: number;
  uploadToPublished: { p50: number; p99: number };
  uploadToFeed: { p50: number; p99: number };
}

async function poll(what: string, probe: () => Promise<boolean>, intervalMs: number, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs;
  while (!(await probe())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
  return performance.now();
}

/**
 * `count` photos, `inFlight` at a time; with `until`, photos keep going (count ignored) until it returns
 * true, the ones in flight then finishing — uploads running flat out beside another load.
 */
export async function uploadPipeline(
  api: HttpClient,
  author: { token: string },
  follower: { token: string },
  photo: Buffer,
  count: number,
  inFlight: number,
  until?: () => boolean,
): Promise<PipelineResult> {
  const toPublished: number[] = [];
  const toFeed: number[] = [];
  const start = performance.now();
  const publishedAt: number[] = [];
  let done = 0;
  // Distinct bytes per photo across calls too (the upload service may deduplicate identical bytes).
  const base = uploadsSoFar;
  uploadsSoFar += until ? 1_000_000 : count;
  const run = until
    ? (task: (i: number) => Promise<void>) =>
        pool(inFlight, inFlight, async (worker) => {
          for (let i = worker; !until(); i += inFlight) await task(i);
        })
    : (task: (i: number) => Promise<void>) => pool(count, inFlight, task);
  await run(async (n) => {
    const i = base + n;
    const sent = performance.now();
    const reply = await api.send({
      method: 'POST',
      path: '/v1/media',
      token: author.token,
      raw: photoUpload(distinct(photo, i), `bench photo ${i} #pipeline`),
    });
    if (reply.status !== 202) throw new Error(`upload: ${reply.status} ${reply.text}`);
    const { id } = JSON.parse(reply.text) as { id: string };
    // The feed is polled only once the photo is published (a post is on no feed before): half the polls,
    // which run on the same CPU as the pipeline they measure.
    const published = await poll(
      `media ${id} published`,
      async () => {
        const r = await api.send({ method: 'GET', path: `/v1/media/${id}/status`, token: author.token });
        const status = (JSON.parse(r.text) as { status?: string }).status;
        if (status === 'rejected') throw new Error(`media ${id} was rejected: ${r.text}`);
        return status === 'published';
      },
      100,
      120_000,
    );
    const inFeed = await poll(
      `post ${id} in the follower's feed`,
      async () => {
        const r = await api.send({ method: 'GET', path: '/v1/feed', token: follower.token });
        return (
          r.status === 200 &&
          (JSON.parse(r.text) as { items: { id: string }[] }).items.some((p) => p.id === id)
        );
      },
      50,
      120_000,
    );
    toPublished.push(published - sent);
    toFeed.push(inFeed - sent);
    publishedAt.push(published);
    done++;
  });
  return {
    photos: done,
    publishedPerSecond: sustainedRate(publishedAt, start, inFlight),
    seconds: (Math.max(start, ...publishedAt) - start) / 1000,
    uploadToPublished: { p50: percentile(toPublished, 50), p99: percentile(toPublished, 99) },
    uploadToFeed: { p50: percentile(toFeed, 50), p99: percentile(toFeed, 99) },
  };
}

/**
 * The uploads-alone measurement (run.ts phase 2, reads.ts `uploads`): `count` photos, `inFlight` at a time,
 * with this process (the uploading clients) on CPU 0 — media-processing has CPU 1 to itself, as raw sharp
 * has (the clients took 0.06-0.10 of it); in production the phones are elsewhere. With media-processing's
 * CPU per photo and every group's cores over the run.
 */
export async function uploadsAlone(
  groups: ProcessGroups,
  api: HttpClient,
  author: { token: string },
  follower: { token: string },
  photo: Buffer,
  count: number,
  inFlight: number,
): Promise<{ result: PipelineResult; mediaCpuMsPerPhoto: number; cores: string }> {
  const from = sampleCpu(groups);
  const result = await withOwnCpus('0', () => uploadPipeline(api, author, follower, photo, count, inFlight));
  const to = sampleCpu(groups);
  return {
    result,
    mediaCpuMsPerPhoto: cpuMsOf('media-processing', from, to) / result.photos,
    cores: formatCores(coresUsed(from, to)),
  };
}

/**
 * Photos uploaded flat out while `work` runs: `inFlight` at a time, new ones started until `work` settles,
 * those in flight then finishing. `work`'s result and the uploads'.
 */
export async function uploadsDuring<T>(
  work: () => Promise<T>,
  api: HttpClient,
  author: { token: string },
  follower: { token: string },
  photo: Buffer,
  inFlight: number,
): Promise<{ during: T; uploads: PipelineResult }> {
  let done = false;
  const uploads = uploadPipeline(api, author, follower, photo, 0, inFlight, () => done);
  // Awaited after `work`; until then a failure must not crash the caller past its clean-up.
  uploads.catch(() => {});
  let during: T;
  try {
    during = await work();
  } finally {
    done = true;
  }
  return { during, uploads: await uploads };
}

/**
 * Published per second once the pipeline is full. The first `inFlight` photos all start at once and reach
 * media-processing after upload, S3 and the bus, then render a few at a time: measured, the eighth of 48
 * phone photos was published after ~1.6 s of a 5.8 s run (8.24 photos/s over the run, 9.47/s after it).
 * Without that fill the figure compares with raw sharp's, which starts rendering at once.
 */
function sustainedRate(publishedAt: number[], start: number, inFlight: number): number {
  const times = [...publishedAt].sort((a, b) => a - b);
  const last = times.at(-1) ?? start;
  if (times.length < 3 * inFlight) return times.length / ((last - start) / 1000);
  const filled = times[inFlight - 1] as number;
  return (times.length - inFlight) / ((last - filled) / 1000);
}

export interface RawResult {
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU time of the process (libvips' threads included) per photo while the loop ran. */
  cpuMsPerPhoto: number;
}

/**
 * The raw baseline: sharp doing the same renditions — media-processing's own image work (renderImage: one
 * decode, 1080/640/320/thumb in JPEG and WebP, blurhash; no HTTP, S3, NATS or Postgres) on the same photo,
 * one at a time, on the calling thread (on CPU 1, the one CPU the stack's media-processing has in
 * bench/system; raw-thread.ts runs it on a thread of its own).
 */
export async function rawRendering(photo: Buffer, count: number): Promise<RawResult> {
  const times: number[] = [];
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await renderImage(distinct(photo, i), { maxPixels: 100_000_000 });
    times.push(performance.now() - t);
  }
  const { user, system } = process.cpuUsage(cpu);
  return {
    perSecond: count / ((performance.now() - start) / 1000),
    p50: median(times),
    p99: percentile(times, 99),
    cpuMsPerPhoto: (user + system) / 1000 / count,
  };
}
