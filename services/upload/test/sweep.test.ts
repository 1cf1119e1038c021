import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { testEnvironment } from '@instantpost/chassis/testing';
import { encode, formatId } from '@instantpost/ids';
import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import { type Fixture, listKeys, openFixture } from './helpers.ts';

const run = promisify(execFile);
const SERVICE_DIR = fileURLToPath(new URL('..', import.meta.url));
const HOUR = 60 * 60 * 1000;

let fx: Fixture;
test.before(async () => {
  fx = await openFixture();
});
test.after.always(async () => {
  await fx?.close();
  await stopTestInfra();
});

const idAt = (time: number, shard: number) => formatId(encode({ time, shard, sequence: 7 }));

async function put(key: string): Promise<void> {
  await fx.s3.send(
    new PutObjectCommand({ Bucket: fx.ns.s3.bucket, Key: key, Body: Buffer.from([0xff, 0xd8, 0xff, 1]) }),
  );
}

async function sweep(...args: string[]) {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/sweep.ts', ...args], {
    cwd: SERVICE_DIR,
    env: { PATH: process.env.PATH, ...testEnvironment('upload', fx.ns, fx.keys) },
  });
  return JSON.parse(stdout) as { checked: number; removed: string[]; foreign: string[] };
}

test('the sweep deletes old originals without a row and nothing else; --dry-run only reports', async (t) => {
  const orphan = idAt(Date.now() - 2 * HOUR, 3);
  const recorded = idAt(Date.now() - 2 * HOUR, 12);
  const young = idAt(Date.now(), 5);
  for (const id of [orphan, recorded, young]) await put(`originals/${id}`);
  await put('originals/notes.txt');
  const shard = fx.svc.infra.shards.forId(recorded);
  await shard.sql`
    INSERT INTO ${shard.table('uploads')} (id, owner_id, sha256, bytes, content_type, object_key)
    VALUES (${recorded}, ${idAt(Date.now() - 3 * HOUR, 12)}, ${'a'.repeat(64)}, 4, 'image/jpeg', ${`originals/${recorded}`})`;
  const all = [orphan, recorded, young]
    .map((id) => `originals/${id}`)
    .concat('originals/notes.txt')
    .sort();

  const dry = await sweep('--older-than-minutes', '60', '--dry-run');
  t.deepEqual(dry, { checked: 4, removed: [`originals/${orphan}`], foreign: ['originals/notes.txt'] });
  t.deepEqual(await listKeys(fx.s3, fx.ns.s3.bucket, 'originals/'), all, 'a dry run deletes nothing');

  const real = await sweep('--older-than-minutes', '60');
  t.deepEqual(real.removed, [`originals/${orphan}`]);
  t.deepEqual(
    await listKeys(fx.s3, fx.ns.s3.bucket, 'originals/'),
    all.filter((k) => k !== `originals/${orphan}`),
    'the recorded, the young (maybe in flight) and the foreign originals stay',
  );
});

test('a threshold under 5 minutes is refused before anything is touched', async (t) => {
  const error = await t.throwsAsync(sweep('--older-than-minutes', '1'));
  t.regex(String((error as { stderr?: string } | undefined)?.stderr), /at least 5/);
});
