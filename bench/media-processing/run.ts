/**
 * Media-processing benchmark: 12-megapixel JPEGs through the service's whole pipeline (media.uploaded
 * published → consumer → original from S3 → one decode → 1080/640/320/thumb in JPEG and WebP + blurhash →
 * 8 PutObjects → manifest row → media.processed received) next to, in the same run and the same process,
 *
 *   raw-1    sharp alone doing just one resize: decode → 1080 wide → JPEG q80 (the brief's baseline)
 *   pipeline the service's image work alone (renderImage: the same decode and 8 encodes, no S3/NATS/PG)
 *
 * with the same number of photos in flight (MEDIA_CONCURRENCY, default the cores this process may use),
 * over alternating rounds (PITFALLS: absolutes drift on this machine, ratios hold). Reports photos/s,
 * renditions/s, p50/p99 per-photo latency and the ratios. The service is built in-process on a fresh test
 * namespace (databases, NATS prefix, S3 emulator bucket) removed at the end.
 *
 *   npx tsx bench/media-processing/run.ts
 *
 * Env: BENCH_ROUNDS (3), BENCH_PHOTOS (8 per path per round), BENCH_CONCURRENCY (cores), TEST_* variables
 * of @instantpost/testing to use other infrastructure.
 */
import { createHash, randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createPublisher } from '@instantpost/bus';
import { makeTestKeys, openTestService } from '@instantpost/chassis/testing';
import { createEvent } from '@instantpost/events';
import { createIdGenerator, formatId } from '@instantpost/ids';
import { buildApp, configSpec, migrations, renderImage } from '@instantpost/media-processing/harness';
import { openNamespace, s3ClientFor, stopTestInfra } from '@instantpost/testing';
import sharp from 'sharp';
import { latencyRatio, rateRatio, reportFigures } from '../report.ts';
import { median, percentile } from '../stats.ts';

const env = process.env;
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const PHOTOS = Number(env.BENCH_PHOTOS ?? 8);
const CONCURRENCY = Number(env.BENCH_CONCURRENCY ?? availableParallelism());
const RENDITIONS_PER_PHOTO = 8;

interface Phase {
  photosPerSecond: number;
  p50: number;
  p99: number;
}

/** A 4000×3000 photo-like JPEG (smooth gradients plus sensor-like noise, ~3 MB at q90); `seed` varies it. */
async function photo(seed: number): Promise<Buffer> {
  const width = 4000;
  const height = 3000;
  const pixels = Buffer.alloc(width * height * 3);
  let state = seed * 2654435761;
  const noise = () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return (state >>> 24) % 17;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      pixels[i] = (((x * 255) / width + seed * 40) % 256) + noise() - 8;
      pixels[i + 1] = (y * 255) / height + noise() - 8;
      pixels[i + 2] = 128 + 100 * Math.sin((x + y + seed * 300) / 400) + noise() - 8;
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .withMetadata({ orientation: seed % 2 === 0 ? 1 : 6 })
    .toBuffer();
}

/** Runs `count` jobs with `CONCURRENCY` in flight; returns photos/s and per-job latency percentiles. */
async function closedLoop(count: number, job: (i: number) => Promise<void>): Promise<Phase> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = performance.now();
        await job(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { photosPerSecond: count / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function main(): Promise<void> {
  process.stdout.write(`generating 4 photos of 12 MP...\n`);
  const photos = await Promise.all([1, 2, 3, 4].map(photo));
  const sizes = photos.map((p) => `${(p.length / 1e6).toFixed(1)} MB`).join(', ');

  const ns = await openNamespace({ databases: 2 });
  const service = await openTestService({
    service: 'media-processing',
    ns,
    keys: makeTestKeys(),
    spec: configSpec,
    migrations,
    build: buildApp,
    env: { LOG_LEVEL: 'error', MEDIA_CONCURRENCY: String(CONCURRENCY), PG_POOL_MAX: '4' },
  });
  const s3 = s3ClientFor(ns.s3);
  const { nc } = service.infra;
  const publisher = createPublisher({ nc, prefix: ns.nats.prefix });
  const ids = createIdGenerator(3);
  const waiting = new Map<string, () => void>();
  const sub = nc.subscribe(`${ns.nats.prefix}.media.processed`, {
    callback: (_err, msg) => {
      const event = JSON.parse(msg.string()) as { data: { mediaId: string } };
      waiting.get(event.data.mediaId)?.();
    },
  });

  try {
    const uploads = async (n: number) => {
      const events = [];
      for (let i = 0; i < n; i++) {
        const bytes = photos[i % photos.length] as Buffer;
        const mediaId = formatId(ids.next());
        const key = `originals/${mediaId}`;
        await s3.send(
          new PutObjectCommand({ Bucket: ns.s3.bucket, Key: key, Body: bytes, ContentLength: bytes.length }),
        );
        events.push(
          createEvent(
            'media.uploaded',
            {
              mediaId,
              ownerId: formatId(ids.next()),
              bucket: ns.s3.bucket,
              key,
              contentType: 'image/jpeg',
              bytes: bytes.length,
              sha256: createHash('sha256').update(bytes).digest('hex'),
            },
            { source: '/bench/media-processing', id: randomUUID() },
          ),
        );
      }
      return events;
    };

    const paths: Record<string, (n: number) => Promise<Phase>> = {
      service: async (n) => {
        const events = await uploads(n); // originals stored before the clock starts
        return closedLoop(n, async (i) => {
          const event = events[i];
          if (!event) return;
          const done = new Promise<void>((resolve) => waiting.set(event.data.mediaId, resolve));
          await publisher.publish(event);
          await done;
          waiting.delete(event.data.mediaId);
        });
      },
      pipeline: (n) =>
        closedLoop(n, async (i) => {
          await renderImage(photos[i % photos.length] as Buffer, { maxPixels: 100_000_000 });
        }),
      'raw-1': (n) =>
        closedLoop(n, async (i) => {
          await sharp(photos[i % photos.length] as Buffer)
            .autoOrient()
            .resize({ width: 1080 })
            .jpeg({ quality: 80 })
            .toBuffer();
        }),
    };

    process.stdout.write(`warm-up...\n`);
    for (const run of Object.values(paths)) await run(Math.max(2, CONCURRENCY));

    const results: Record<string, Phase[]> = { service: [], pipeline: [], 'raw-1': [] };
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? ['raw-1', 'pipeline', 'service'] : ['service', 'pipeline', 'raw-1'];
      for (const name of order) {
        const phase = await (paths[name] as (n: number) => Promise<Phase>)(PHOTOS);
        (results[name] as Phase[]).push(phase);
        process.stdout.write(
          `round ${round} ${name.padEnd(8)} ${phase.photosPerSecond.toFixed(2)} photos/s  p50 ${phase.p50.toFixed(0)} ms  p99 ${phase.p99.toFixed(0)} ms\n`,
        );
      }
    }

    const summary = (name: string) => {
      const r = results[name] as Phase[];
      return {
        photosPerSecond: median(r.map((p) => p.photosPerSecond)),
        p50: median(r.map((p) => p.p50)),
        p99: median(r.map((p) => p.p99)),
      };
    };
    const svc = summary('service');
    const pipe = summary('pipeline');
    const raw = summary('raw-1');
    const f = (n: number, d = 1) => n.toFixed(d);
    process.stdout.write(
      [
        '',
        `media-processing: 12 MP JPEGs (${sizes}), ${CONCURRENCY} in flight, ${ROUNDS} rounds × ${PHOTOS} photos; medians`,
        '',
        '| path | photos/s | renditions/s | p50 ms | p99 ms | photos/s × raw-1 |',
        '|---|---:|---:|---:|---:|---:|',
        ...[
          ['service (event → S3 → 8 renditions → S3 → event)', svc, RENDITIONS_PER_PHOTO],
          ['pipeline only (same sharp work, no I/O)', pipe, RENDITIONS_PER_PHOTO],
          ['raw-1 (sharp: one 1080 JPEG)', raw, 1],
        ].map(([label, s, per]) => {
          const x = s as ReturnType<typeof summary>;
          return `| ${label} | ${f(x.photosPerSecond, 2)} | ${f(x.photosPerSecond * (per as number))} | ${f(x.p50, 0)} | ${f(x.p99, 0)} | ${f(x.photosPerSecond / raw.photosPerSecond, 2)} |`;
        }),
        '',
      ].join('\n'),
    );
    reportFigures('media-processing', 'npx tsx bench/media-processing/run.ts', [
      {
        figure: 'service, 12 MP JPEG → 8 renditions',
        value: svc.photosPerSecond,
        unit: 'photos/s',
        baseline: 'raw sharp, one 1080 JPEG',
        baselineValue: raw.photosPerSecond,
        ratio: rateRatio(svc.photosPerSecond, raw.photosPerSecond),
      },
      {
        figure: 'service renditions',
        value: svc.photosPerSecond * RENDITIONS_PER_PHOTO,
        unit: 'renditions/s',
        baseline: 'raw sharp, one 1080 JPEG',
        baselineValue: raw.photosPerSecond,
        ratio: rateRatio(svc.photosPerSecond * RENDITIONS_PER_PHOTO, raw.photosPerSecond),
      },
      {
        figure: 'service p50 per photo (event in → event out)',
        value: svc.p50,
        unit: 'ms',
        baseline: 'raw sharp, one 1080 JPEG',
        baselineValue: raw.p50,
        ratio: latencyRatio(svc.p50, raw.p50),
      },
      {
        figure: 'service, 12 MP JPEG → 8 renditions',
        value: svc.photosPerSecond,
        unit: 'photos/s',
        baseline: 'the same sharp work without S3/NATS/PG',
        baselineValue: pipe.photosPerSecond,
        ratio: rateRatio(svc.photosPerSecond, pipe.photosPerSecond),
      },
    ]);
  } finally {
    sub.unsubscribe();
    await service.close();
    s3.destroy();
    await ns.close();
    await stopTestInfra();
  }
}

await main();
