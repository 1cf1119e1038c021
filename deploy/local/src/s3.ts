import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { s3ClientFor } from '@instantpost/testing';
import { type HelperProcess, startHelperProcess } from './helper-process.ts';
import { type CpuPriority, lowerPriority } from './service-process.ts';

export const LOCAL_S3 = {
  region: 'us-east-1',
  accessKeyId: 'S3RVER',
  secretAccessKey: 'S3RVER',
  bucket: 'instantpost-media',
};

/**
 * The S3 emulator stands in for S3, which in a cluster is not on the machines that serve reads: locally it
 * runs below the read path, at SCHED_IDLE and nice 10 as media-processing (without its CPU set: on two
 * cores that one CPU is media-processing's). Storing each photo's original and eight renditions took ~0.1
 * core at 5 photos/s beside the reads (bench/system, BENCHMARKS.md).
 */
export const S3_EMULATOR_PRIORITY: CpuPriority = { idle: true, niceness: 10 };

export interface S3Emulator extends HelperProcess {
  readonly endpoint: string;
}

/**
 * Starts the S3 emulator (s3rver from the npm registry) as a child process keeping its objects in
 * `directory` (removed when it stops if `temporary`), at S3_EMULATOR_PRIORITY unless `priority` says
 * otherwise; port 0 picks a free one.
 */
export async function startS3Emulator(options: {
  directory: string;
  port: number;
  temporary?: boolean;
  priority?: CpuPriority;
}): Promise<S3Emulator> {
  const args = [options.directory, String(options.port)];
  if (options.temporary) args.push('--temporary');
  const script = fileURLToPath(new URL('./s3-process.ts', import.meta.url));
  const { pid, port, stop } = await startHelperProcess(script, args);
  try {
    await lowerPriority(pid, options.priority ?? S3_EMULATOR_PRIORITY);
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoint: `http://127.0.0.1:${port}`, port, pid, stop };
}

/** The S3 emulator of the local stack, keeping its objects in `directory`, with the stack's bucket. */
export async function startLocalS3(directory: string, port: number): Promise<S3Emulator> {
  const emulator = await startS3Emulator({ directory, port });
  const s3 = s3ClientFor({ endpoint: emulator.endpoint, ...LOCAL_S3 });
  try {
    await s3
      .send(new HeadBucketCommand({ Bucket: LOCAL_S3.bucket }))
      .catch(() => s3.send(new CreateBucketCommand({ Bucket: LOCAL_S3.bucket })));
  } catch (err) {
    await emulator.stop();
    throw err;
  } finally {
    s3.destroy();
  }
  return emulator;
}
