/**
 * The open loop (load.ts) on a worker thread of its own. The benchmark's main thread holds the stack's
 * handles, the seeded graph and the upload pipeline (~55 MB of live heap): its incremental marking ran in
 * steps of up to 27 ms every second or so during a read-mix run, and every request due or answered during a
 * step was measured that much late (bench/system/reads.ts `profile generator mix 500 10`: 72 % of the
 * generator's busy time was garbage collection; its event-loop delay p99 19-20 ms with a 10 ms resolution,
 * 11 ms for the same loop in a process of its own). A worker's isolate has its own heap of a few MB, so
 * its collections are short and the main thread's do not stop it.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { HttpClient } from './http.ts';
import { type OpenLoopResult, openLoop, type PlannedCall } from './load.ts';

interface ClientOptions {
  readonly baseUrl: string;
  readonly maxSockets: number;
  readonly localAddress: string | undefined;
}

interface Job {
  readonly rate: number;
  readonly seconds: number;
  readonly calls: readonly PlannedCall[];
}

type Answer = { readonly result: OpenLoopResult } | { readonly error: string };

/** A load generator thread with its own keep-alive client; one open-loop run at a time. */
export class LoadThread {
  private readonly worker: Worker;

  constructor(baseUrl: string, maxSockets = 256, localAddress?: string) {
    const options: ClientOptions = { baseUrl, maxSockets, localAddress };
    this.worker = new Worker(new URL(import.meta.url), { workerData: options });
  }

  /**
   * `openLoop` at `rate` req/s for `seconds` on the thread. The calls are drawn here, in order, before the
   * run (so a mix with its own random state draws what it would in-process) and handed over as data.
   */
  openLoop(rate: number, seconds: number, next: (i: number) => PlannedCall): Promise<OpenLoopResult> {
    const calls = Array.from({ length: Math.round(rate * seconds) }, (_, i) => next(i));
    const job: Job = { rate, seconds, calls };
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.worker.once('error', onError);
      this.worker.once('message', (answer: Answer) => {
        this.worker.off('error', onError);
        if ('error' in answer) reject(new Error(`load thread: ${answer.error}`));
        else resolve(answer.result);
      });
      this.worker.postMessage(job);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  const { baseUrl, maxSockets, localAddress } = workerData as ClientOptions;
  const client = new HttpClient(baseUrl, maxSockets, localAddress);
  port.on('message', (job: Job) => {
    openLoop(client, job.rate, job.seconds, (i) => job.calls[i] as PlannedCall).then(
      (result) => port.postMessage({ result } satisfies Answer),
      (err: unknown) => port.postMessage({ error: (err as Error).message } satisfies Answer),
    );
  });
}
