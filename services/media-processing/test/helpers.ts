import { createHash, randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  createPublisher,
  type DeadLetter,
  type Publisher,
  parseDeadLetter,
  streamNameFor,
} from '@instantpost/bus';
import { chassisSpec, openInfra, setupService } from '@instantpost/chassis';
import { makeTestKeys, openTestService, testEnvironment } from '@instantpost/chassis/testing';
import { loadConfig } from '@instantpost/config';
import { type AnyCloudEvent, type CloudEvent, createEvent, type EventSubject } from '@instantpost/events';
import { createIdGenerator, formatId } from '@instantpost/ids';
import { createLogger } from '@instantpost/telemetry';
import {
  openNamespace,
  s3ClientFor,
  sleep,
  stopTestInfra,
  type TestNamespace,
  waitFor,
} from '@instantpost/testing';
import sharp from 'sharp';
import { buildApp, type Context } from '../src/app.ts';
import { configSpec } from '../src/config.ts';
import { type ManifestStore, manifestStore } from '../src/store/manifest.ts';

export { sleep, waitFor };

/** One test file's media-processing, built in-process on its own namespace, and the tools to drive it. */
export interface Fixture {
  readonly ns: TestNamespace;
  /** The service's configuration and clients (built in-process, or opened alone with `inProcess: false`). */
  readonly ctx: Context;
  /** A client straight to the emulator (not through any proxy the service may be pointed at). */
  readonly s3: S3Client;
  readonly publisher: Publisher;
  readonly manifest: ManifestStore;
  /** The variables the service runs with (for the operator command in a child process). */
  readonly env: Record<string, string>;
  /** Stores `bytes` as `originals/<new media id>` and returns the matching media.uploaded event (not published). */
  upload(
    bytes: Buffer,
    extra?: { caption?: string; altText?: string },
  ): Promise<CloudEvent<'media.uploaded'>>;
  /** Publishes a media.uploaded event for an original (a new event id unless given). */
  publishUploaded(event: CloudEvent<'media.uploaded'>, id?: string): Promise<void>;
  /** Every event of `subject` in the namespace's stream, in order. */
  events<S extends EventSubject>(subject: S): Promise<CloudEvent<S>[]>;
  /** Waits for the first `subject` event about `mediaId`. */
  waitForEvent<S extends 'media.processed' | 'media.rejected'>(
    subject: S,
    mediaId: string,
    timeoutMs?: number,
  ): Promise<CloudEvent<S>>;
  deadLetters(): Promise<DeadLetter[]>;
  /** Keys stored under `media/<mediaId>/`. */
  renditionKeys(mediaId: string): Promise<string[]>;
  getObject(key: string): Promise<{ body: Buffer; contentType?: string; cacheControl?: string }>;
  close(): Promise<void>;
}

/**
 * Opens a namespace and the service on it. `env` adds or overrides variables; a function gets the
 * namespace first (e.g. to point S3_ENDPOINT at a proxy of the namespace's emulator).
 */
export async function openFixture(
  env: Record<string, string> | ((ns: TestNamespace) => Promise<Record<string, string>>) = {},
  options: { inProcess?: boolean } = {},
): Promise<Fixture> {
  const ns = await openNamespace({ databases: 2 });
  const keys = makeTestKeys();
  const extra = typeof env === 'function' ? await env(ns) : env;
  const serviceEnv = { LOG_LEVEL: 'error', MEDIA_CONCURRENCY: '2', MEDIA_RETRY_INITIAL_MS: '100', ...extra };
  const fullEnv = { ...testEnvironment('media-processing', ns, keys), ...serviceEnv };
  const migrations = new URL('../src/sql/migrations/', import.meta.url);
  let ctx: Context;
  let closeService: () => Promise<void>;
  if (options.inProcess ?? true) {
    const service = await openTestService({
      service: 'media-processing',
      ns,
      keys,
      spec: configSpec,
      migrations,
      build: buildApp,
      env: serviceEnv,
    });
    ctx = service.ctx;
    closeService = service.close;
  } else {
    // Only the clients: the service itself runs in child processes started by the test.
    await setupService('media-processing', migrations, { env: fullEnv });
    const config = loadConfig({ ...chassisSpec('media-processing'), ...configSpec }, fullEnv);
    const logger = createLogger({ service: 'media-processing-test', level: 'error' });
    const infra = await openInfra('media-processing', config, logger, fileURLToPath(migrations));
    ctx = { config, infra, logger };
    closeService = infra.close;
  }
  const service = { infra: ctx.infra };
  const s3 = s3ClientFor(ns.s3);
  const publisher = createPublisher({ nc: service.infra.nc, prefix: ns.nats.prefix });
  const ids = createIdGenerator(randomInt(0, 16));
  const bucket = ns.s3.bucket;

  const streamEvents = async (stream: 'MEDIA' | 'DLQ', subject: string): Promise<unknown[]> => {
    const name = streamNameFor(stream, ns.nats.prefix);
    const info = await service.infra.jsm.streams.info(name);
    const out: unknown[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const msg = await service.infra.jsm.streams.getMessage(name, { seq }).catch(() => undefined);
      if (msg?.subject.startsWith(`${ns.nats.prefix}.${subject}`)) out.push(JSON.parse(msg.string()));
    }
    return out;
  };

  const fixture: Fixture = {
    ns,
    ctx,
    s3,
    publisher,
    manifest: manifestStore(service.infra.shards),
    env: fullEnv,
    async upload(bytes, extra = {}) {
      const mediaId = formatId(ids.next());
      const key = `originals/${mediaId}`;
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentLength: bytes.length }),
      );
      return createEvent(
        'media.uploaded',
        {
          mediaId,
          ownerId: formatId(ids.next()),
          bucket,
          key,
          contentType: 'image/jpeg',
          bytes: bytes.length,
          sha256: createHash('sha256').update(bytes).digest('hex'),
          ...extra,
        },
        { source: '/instantpost/upload' },
      );
    },
    async publishUploaded(event, id) {
      const copy: AnyCloudEvent = id ? { ...event, id } : { ...event, id: crypto.randomUUID() };
      await publisher.publish(copy);
    },
    async events<S extends EventSubject>(subject: S) {
      return (await streamEvents('MEDIA', subject)) as CloudEvent<S>[];
    },
    async waitForEvent(subject, mediaId, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const found = (await fixture.events(subject)).find((e) => e.data.mediaId === mediaId);
        if (found) return found;
        await sleep(100);
      }
      throw new Error(`no ${subject} for media ${mediaId} within ${timeoutMs} ms`);
    },
    async deadLetters() {
      return (await streamEvents('DLQ', 'dlq.')).map((l) => parseDeadLetter(JSON.stringify(l)));
    },
    async renditionKeys(mediaId) {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `media/${mediaId}/` }));
      return (page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : [])).sort();
    },
    async getObject(key) {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const body = Buffer.from((await res.Body?.transformToByteArray()) ?? []);
      return {
        body,
        ...(res.ContentType ? { contentType: res.ContentType } : {}),
        ...(res.CacheControl ? { cacheControl: res.CacheControl } : {}),
      };
    },
    async close() {
      await closeService();
      s3.destroy();
      await ns.close();
      await stopTestInfra();
    },
  };
  return fixture;
}

/**
 * A photo as a phone stores it: pixels in sensor orientation (top half red, bottom half blue) with EXIF
 * orientation 6 (display rotated 90° clockwise) and a GPS position.
 */
export async function phonePhoto(width: number, height: number): Promise<Buffer> {
  const red = await sharp({
    create: { width, height: Math.floor(height / 2), channels: 3, background: '#ff0000' },
  })
    .png()
    .toBuffer();
  return sharp({ create: { width, height, channels: 3, background: '#0000ff' } })
    .composite([{ input: red, top: 0, left: 0 }])
    .jpeg({ quality: 90 })
    .withExif({
      IFD0: { Make: 'InstantPhone', Model: 'Test' },
      IFD3: {
        GPSLatitudeRef: 'N',
        GPSLatitude: '52/1 30/1 0/1',
        GPSLongitudeRef: 'E',
        GPSLongitude: '13/1 24/1 0/1',
      },
    })
    .withMetadata({ orientation: 6 })
    .toBuffer();
}

/** A plain image of `format`. */
export function plainImage(
  width: number,
  height: number,
  format: 'png' | 'webp' | 'avif' | 'jpeg',
): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#33aa66' } })
    .toFormat(format)
    .toBuffer();
}

/**
 * A decompression bomb: a valid 1-bit PNG that declares width × height pixels (400 MP for 20000²) in a few
 * tens of kilobytes, because its rows of zeros deflate ~1000:1.
 */
export function pngBomb(width = 20_000, height = 20_000): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed) >>> 0);
    return Buffer.concat([length, typed, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 1; // bit depth 1, colour type 0 (greyscale), deflate, no filter, no interlace
  const rows = Buffer.alloc((1 + Math.ceil(width / 8)) * height);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Tags of IFD0 of an EXIF block (what sharp's metadata().exif holds), e.g. 0x8825 = the GPS IFD pointer. */
export function exifTags(exif: Buffer): number[] {
  const tiff = exif.subarray(0, 6).toString('latin1') === 'Exif\0\0' ? exif.subarray(6) : exif;
  const le = tiff.toString('latin1', 0, 2) === 'II';
  const u16 = (at: number) => (le ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number) => (le ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  const ifd = u32(4);
  return Array.from({ length: u16(ifd) }, (_, i) => u16(ifd + 2 + i * 12));
}

export const GPS_IFD_TAG = 0x8825;
