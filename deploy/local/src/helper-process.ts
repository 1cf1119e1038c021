import { type ChildProcess, spawn } from 'node:child_process';

/** A helper process started with tsx that prints `{"port":N}` once listening (the S3 emulator, bench servers). */
export interface HelperProcess {
  readonly port: number;
  readonly pid: number;
  /** SIGTERM, SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * Runs `node --import tsx <script> ...args` and waits for the port it reports on its first stdout line. Its
 * stdin is a pipe only so that it notices when this process dies (such helpers exit at the end of stdin).
 */
export async function startHelperProcess(
  script: string,
  args: readonly string[] = [],
): Promise<HelperProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
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
