/// <reference path="../../../libs/testing/src/s3rver.d.ts" />
import { mkdirSync } from 'node:fs';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { s3ClientFor } from '@instantpost/testing';
import S3rver from 's3rver';

export const LOCAL_S3 = {
  region: 'us-east-1',
  accessKeyId: 'S3RVER',
  secretAccessKey: 'S3RVER',
  bucket: 'instantpost-media',
};

/** The S3 emulator of the local stack (s3rver from the npm registry), keeping its objects in `directory`. */
export async function startLocalS3(
  directory: string,
  port: number,
): Promise<{ endpoint: string; stop(): Promise<void> }> {
  mkdirSync(directory, { recursive: true });
  const server = new S3rver({ port, address: '127.0.0.1', directory, silent: true });
  await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const s3 = s3ClientFor({ endpoint, ...LOCAL_S3 });
  try {
    await s3.send(new HeadBucketCommand({ Bucket: LOCAL_S3.bucket }));
  } catch {
    await s3.send(new CreateBucketCommand({ Bucket: LOCAL_S3.bucket }));
  }
  s3.destroy();
  return { endpoint, stop: () => server.close() };
}
