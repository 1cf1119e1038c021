import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { s3ClientFor } from '@instantpost/testing';
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

export interface S3Emulator {
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
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
  const script = fileURLToPath(new URL('./s3-process.ts', import.meta.url));
  const args = ['--import', 'tsx', script, options.directory, String(options.port)];
  if (options.temporary) args.push('--temporary');
  // stdin is a pipe only so the emulator notices when this process dies (it exits at its end).
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n')[0];
      if (buffer.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`the S3 emulator exited (${code}) before listening`)));
  });
  const pid = child.pid as number;
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
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
