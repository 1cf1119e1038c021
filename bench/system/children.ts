/** Helper processes of the benchmark (S3 emulator, baseline server): started with tsx, report their port. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type S3Emulator, startS3Emulator } from '../../deploy/local/src/s3.ts';

/**
 * The S3 emulator as the local stack runs it (its own process, below the read path: S3_EMULATOR_PRIORITY),
 * in a directory of its own that goes with it.
 */
export function startS3(): Promise<S3Emulator> {
  return startS3Emulator({
    directory: mkdtempSync(join(tmpdir(), 'instantpost-bench-s3-')),
    port: 0,
    temporary: true,
  });
}

export interface Helper {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

export async function startHelper(script: string): Promise<Helper> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url))],
    {
      // stdin is a pipe only so the helper notices when this process dies (it exits on its end).
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n')[0];
      if (buffer.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before listening`)));
  });
  return {
    port,
    pid: child.pid as number,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
