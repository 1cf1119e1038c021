/**
 * The pipeline's raw baseline (`rawRendering`, pipeline.ts) on a worker thread of its own, so raw sharp is
 * measured with a heap of its own: in the benchmark's main thread it ran beside ~55 MB of live heap (the
 * stack's handles, the seeded graph) whose collections it paid for — 5-10 % slower per photo than in a
 * process of its own (bench/system/reads.ts `raw`, 2026-12-01: 94-106 against 90-94 ms of CPU per photo).
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type RawResult, rawRendering } from './pipeline.ts';

interface Job {
  readonly photo: Uint8Array;
  readonly count: number;
}

/** `rawRendering(photo, count)` on a fresh worker thread; the thread ends with it. */
export function rawRenderingOffThread(photo: Buffer, count: number): Promise<RawResult> {
  const job: Job = { photo, count };
  const worker = new Worker(new URL(import.meta.url), { workerData: job });
  return new Promise<RawResult>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  }).finally(() => worker.terminate());
}

if (!isMainThread && parentPort) {
  const { photo, count } = workerData as Job;
  parentPort.postMessage(
    await rawRendering(Buffer.from(photo.buffer, photo.byteOffset, photo.byteLength), count),
  );
}
