import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { connect } from 'nats';
import postgres from 'postgres';
import { type S3Endpoint, type TestInfra, testInfra } from './infra.ts';

/**
 * Everything one test file may touch, isolated from every other run on the same servers:
 * its own Postgres databases, a Redis key prefix, a NATS subject/stream prefix and an S3 bucket.
 */
export interface TestNamespace {
  /** Lowercase letters and digits, unique per namespace, e.g. `t5f3a9c01`. */
  readonly name: string;
  readonly infra: TestInfra;
  readonly postgres: {
    /** Creates an empty database owned by this namespace and returns its URL. */
    createDatabase(label?: string): Promise<string>;
    /** The databases created so far. */
    readonly databases: readonly string[];
  };
  /** Every key this namespace writes starts with `prefix` (it ends with `:`). */
  readonly redis: { readonly url: string; readonly prefix: string };
  /** Subjects are `<prefix>.<subject>`, streams `<PREFIX>_<STREAM>` (see libs/bus). */
  readonly nats: { readonly servers: string; readonly prefix: string };
  readonly s3: S3Endpoint & { readonly bucket: string };
  /** Removes everything the namespace created. Safe to call twice. */
  close(): Promise<void>;
}

export interface NamespaceOptions {
  /** Databases to create up front (more can be created with `postgres.createDatabase`). */
  databases?: number;
}

export function s3ClientFor(endpoint: S3Endpoint): S3Client {
  return new S3Client({
    endpoint: endpoint.endpoint,
    region: endpoint.region,
    forcePathStyle: true,
    credentials: { accessKeyId: endpoint.accessKeyId, secretAccessKey: endpoint.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function databaseUrl(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function openNamespace(options: NamespaceOptions = {}): Promise<TestNamespace> {
  const infra = await testInfra();
  const name = `t${randomBytes(4).toString('hex')}`;
  const admin = postgres(infra.postgresUrl, { max: 1, onnotice: () => {} });
  const databases: string[] = [];
  const bucket = `${name}-media`;
  const s3 = s3ClientFor(infra.s3);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));

  const createDatabase = async (label = String(databases.length)): Promise<string> => {
    const db = `${name}_${label.replace(/[^a-z0-9_]/g, '_')}`;
    await admin.unsafe(`CREATE DATABASE "${db}"`);
    databases.push(db);
    return databaseUrl(infra.postgresUrl, db);
  };
  for (let i = 0; i < (options.databases ?? 0); i++) await createDatabase();

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const db of databases) await admin.unsafe(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
    await admin.end();
    await deleteRedisKeys(infra.redisUrl, `${name}:`);
    await deleteStreams(infra.natsServers, name);
    await emptyAndDeleteBucket(s3, bucket);
    s3.destroy();
  };

  return {
    name,
    infra,
    postgres: { createDatabase, databases },
    redis: { url: infra.redisUrl, prefix: `${name}:` },
    nats: { servers: infra.natsServers, prefix: name },
    s3: { ...infra.s3, bucket },
    close,
  };
}

async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
}

async function deleteStreams(servers: string, prefix: string): Promise<void> {
  const nc = await connect({ servers });
  const jsm = await nc.jetstreamManager();
  const streamPrefix = `${prefix.toUpperCase()}_`;
  for await (const info of jsm.streams.list()) {
    // KV buckets (the live shard map's `<PREFIX>_shardmap`) are streams named `KV_<bucket>`.
    const name = info.config.name;
    if (name.startsWith(streamPrefix) || name.startsWith(`KV_${streamPrefix}`))
      await jsm.streams.delete(name);
  }
  await nc.drain();
}

async function emptyAndDeleteBucket(s3: S3Client, bucket: string): Promise<void> {
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (keys.length > 0)
      await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}
