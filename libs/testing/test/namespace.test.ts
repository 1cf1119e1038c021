import { HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import test from 'ava';
import { Redis } from 'ioredis';
import { connect } from 'nats';
import postgres from 'postgres';
import { openNamespace, s3ClientFor, stopTestInfra } from '../src/index.ts';

test.after.always(() => stopTestInfra());

test('a namespace gives its own databases, prefixes and bucket, and removes them all on close', async (t) => {
  const ns = await openNamespace({ databases: 2 });
  t.regex(ns.name, /^t[0-9a-f]{8}$/);
  t.is(ns.postgres.databases.length, 2);

  const [firstUrl] = ns.postgres.databases.map((db) => {
    const u = new URL(ns.infra.postgresUrl);
    u.pathname = `/${db}`;
    return u.toString();
  });
  const sql = postgres(firstUrl ?? '', { max: 1, onnotice: () => {} });
  await sql`CREATE TABLE probe (id int)`;
  await sql.end();

  const redis = new Redis(ns.redis.url);
  await redis.set(`${ns.redis.prefix}probe`, '1');
  await redis.set(`${ns.redis.prefix}a:b`, '2');

  const nc = await connect({ servers: ns.nats.servers });
  const jsm = await nc.jetstreamManager();
  const stream = `${ns.nats.prefix.toUpperCase()}_PROBE`;
  await jsm.streams.add({ name: stream, subjects: [`${ns.nats.prefix}.probe.>`] });

  const s3 = s3ClientFor(ns.s3);
  await s3.send(new PutObjectCommand({ Bucket: ns.s3.bucket, Key: 'media/x.jpg', Body: 'x' }));

  await ns.close();
  await ns.close(); // twice is harmless

  const admin = postgres(ns.infra.postgresUrl, { max: 1 });
  const left = await admin`SELECT datname FROM pg_database WHERE datname LIKE ${`${ns.name}%`}`;
  await admin.end();
  t.deepEqual(left.length, 0, 'databases dropped');
  t.deepEqual(await redis.keys(`${ns.redis.prefix}*`), [], 'redis keys deleted');
  await t.throwsAsync(jsm.streams.info(stream), undefined, 'stream deleted');
  await t.throwsAsync(s3.send(new HeadBucketCommand({ Bucket: ns.s3.bucket })), undefined, 'bucket deleted');
  await redis.quit();
  await nc.drain();
  s3.destroy();
});

test('two namespaces never share a name', async (t) => {
  const [a, b] = await Promise.all([openNamespace(), openNamespace()]);
  t.not(a.name, b.name);
  t.not(a.s3.bucket, b.s3.bucket);
  await Promise.all([a.close(), b.close()]);
});
