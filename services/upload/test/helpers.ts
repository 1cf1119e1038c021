import { randomBytes, randomInt } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { makeTestKeys, openTestService, type TestKeys, type TestService } from '@instantpost/chassis/testing';
import type { ConfigOf } from '@instantpost/config';
import { encode, formatId } from '@instantpost/ids';
import { openNamespace, s3ClientFor, sleep, type TestNamespace, waitFor } from '@instantpost/testing';
import sharp from 'sharp';
import { buildApp } from '../src/app.ts';
import { configSpec } from '../src/config.ts';

export { sleep, waitFor };

export type UploadService = TestService<ConfigOf<typeof configSpec>>;

/** One test file's world: a namespace (two databases), the upload service built in-process, an S3 client. */
export interface Fixture {
  readonly ns: TestNamespace;
  readonly keys: TestKeys;
  readonly svc: UploadService;
  readonly s3: S3Client;
  close(): Promise<void>;
}

export async function openFixture(env: Record<string, string> = {}): Promise<Fixture> {
  const ns = await openNamespace({ databases: 2 });
  const keys = makeTestKeys();
  const svc = await openTestService({
    service: 'upload',
    ns,
    keys,
    spec: configSpec,
    migrations: new URL('../src/sql/migrations/', import.meta.url),
    build: buildApp,
    env,
  });
  const s3 = s3ClientFor(ns.s3);
  return {
    ns,
    keys,
    svc,
    s3,
    close: async () => {
      await svc.close();
      s3.destroy();
      await ns.close();
    },
  };
}

/** A user whose id lives on `shard` (0-7 on the first database, 8-15 on the second). */
export function userOn(shard: number): { id: string; username: string } {
  const id = formatId(encode({ time: Date.now(), shard, sequence: randomInt(1024) }));
  return { id, username: `u${id.slice(-8)}` };
}

export type FormEntry =
  | { name: string; value: string }
  | { name: string; filename: string; contentType: string; data: Buffer };

/** A multipart/form-data body, built by hand so tests control every byte (names, types, order). */
export function multipart(entries: readonly FormEntry[]): {
  payload: Buffer;
  headers: Record<string, string>;
} {
  const boundary = `----instantpost${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const entry of entries) {
    if ('data' in entry) {
      chunks.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${entry.name}"; filename="${entry.filename}"\r\n` +
            `Content-Type: ${entry.contentType}\r\n\r\n`,
        ),
        entry.data,
        Buffer.from('\r\n'),
      );
    } else {
      chunks.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${entry.name}"\r\n\r\n${entry.value}\r\n`,
        ),
      );
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    payload: Buffer.concat(chunks),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

export type Format = 'jpeg' | 'png' | 'webp' | 'avif';

/** A real image of random pixels (so every call gives different bytes). */
export async function makeImage(format: Format, width = 64, height = 48): Promise<Buffer> {
  const raw = randomBytes(width * height * 3);
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .toFormat(format)
    .toBuffer();
}

/** Posts a photo (plus fields) as `user`; `token: false` sends no Authorization header. */
export async function upload(
  svc: UploadService,
  keys: TestKeys,
  user: { id: string; username: string } | false,
  entries: readonly FormEntry[],
) {
  const { payload, headers } = multipart(entries);
  return svc.app.inject({
    method: 'POST',
    url: '/v1/media',
    payload,
    headers: { ...headers, ...(user ? { authorization: `Bearer ${keys.tokenFor(user)}` } : {}) },
  });
}

export function photo(data: Buffer, filename = 'photo.jpg', contentType = 'image/jpeg'): FormEntry {
  return { name: 'photo', filename, contentType, data };
}

/** Every key in the namespace's bucket under `prefix`. */
export async function listKeys(s3: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : [])).sort();
}

export async function getObject(s3: S3Client, bucket: string, key: string) {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const body = Buffer.from((await got.Body?.transformToByteArray()) ?? []);
  return { body, contentType: got.ContentType };
}

/**
 * The keys under `originals/` whose bytes equal `data`. Objects that vanish while listing (another test's
 * duplicate being deleted) are skipped.
 */
export async function originalsHolding(s3: S3Client, bucket: string, data: Buffer): Promise<string[]> {
  const keys = await listKeys(s3, bucket, 'originals/');
  const matches = await Promise.all(
    keys.map(async (key) => {
      try {
        return (await getObject(s3, bucket, key)).body.equals(data) ? key : undefined;
      } catch (err) {
        if (err instanceof Error && err.name === 'NoSuchKey') return undefined;
        throw err;
      }
    }),
  );
  return matches.filter((k): k is string => k !== undefined).sort();
}

/** Upload rows on every shard of both databases. */
export async function countRows(svc: UploadService): Promise<number> {
  const counts = await svc.infra.shards.fanOut(async (s) => {
    const [row] = await s.sql<{ n: string }[]>`SELECT count(*) AS n FROM ${s.table('uploads')}`;
    return Number(row?.n ?? 0);
  });
  return counts.reduce((a, b) => a + b, 0);
}
