/**
 * `renderImage` on a worker thread of the service, so the decoded pixels (a 1080 px master is ~4.4 MB,
 * each smaller level more) are allocated and dropped on a small heap of their own. On the main thread
 * they counted as external memory of a heap holding ~45 MB of clients (S3, NATS, Postgres, telemetry),
 * and every ~64 MB of them started a full mark-compact of that heap: about one per nine phone photos,
 * 5-10 % of a photo's CPU (bench/system `--trace-gc`, 2026-12-01; raw sharp on the main thread of the
 * benchmark measured 5-10 % slower than on a thread of its own for the same reason). The pixel work
 * itself stays in libvips, whose thread pool is per process (`configureSharp` holds for the thread).
 *
 * Several images render at once on the one thread (its event loop only hands work to libvips). Errors
 * keep their meaning across the thread: an unsafe image is still an `UnsafeImageError` (rejected, never
 * retried); anything else, or the thread dying, fails the render as a plain error, which the consumer
 * retries — a new thread is started for the next image.
 */
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { UnsafeImageError } from './errors.ts';
import { configureSharp, type RenderedImage, type RenderOptions, renderImage } from './image.ts';

interface RenderRequest {
  readonly id: number;
  readonly input: Uint8Array;
  readonly maxPixels: number;
}

type RenderReply =
  | { readonly id: number; readonly kind: 'progress' }
  | { readonly id: number; readonly kind: 'done'; readonly image: RenderedImage }
  | { readonly id: number; readonly kind: 'failed'; readonly unsafe: boolean; readonly message: string };

interface Pending {
  /** The thread rendering it: a thread that stops fails its own renders, not a newer thread's. */
  readonly worker: Worker;
  resolve(image: RenderedImage): void;
  reject(err: Error): void;
  onProgress: (() => void) | undefined;
}

/** Structured clone turns Buffers into plain Uint8Arrays: the same bytes, viewed as a Buffer again. */
const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export class RenderThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  /** As `renderImage(input, options)`, on the thread. */
  render(input: Buffer, options: RenderOptions): Promise<RenderedImage> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<RenderedImage>((resolve, reject) => {
      this.pending.set(id, { worker, resolve, reject, onProgress: options.onProgress });
      const request: RenderRequest = { id, input, maxPixels: options.maxPixels };
      worker.postMessage(request);
    });
  }

  /** Stops the thread; renders still in flight fail. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  private start(): Worker {
    // No --import of the service's telemetry: the thread only renders.
    const worker = new Worker(new URL(import.meta.url), { execArgv: [] });
    worker.unref();
    worker.on('message', (reply: RenderReply) => this.settle(reply));
    const stopped = (err: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const [id, p] of this.pending) {
        if (p.worker !== worker) continue;
        this.pending.delete(id);
        p.reject(err);
      }
    };
    worker.on('error', (err) =>
      stopped(new Error(`the render thread failed: ${err.message}`, { cause: err })),
    );
    worker.on('exit', (code) => stopped(new Error(`the render thread stopped (exit code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private settle(reply: RenderReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    if (reply.kind === 'progress') {
      p.onProgress?.();
      return;
    }
    this.pending.delete(reply.id);
    if (reply.kind === 'done') {
      const { image } = reply;
      p.resolve({ ...image, renditions: image.renditions.map((r) => ({ ...r, body: asBuffer(r.body) })) });
    } else {
      p.reject(reply.unsafe ? new UnsafeImageError(reply.message) : new Error(reply.message));
    }
  }
}

if (!isMainThread && parentPort) {
  configureSharp();
  const port = parentPort;
  port.on('message', async ({ id, input, maxPixels }: RenderRequest) => {
    let reply: RenderReply;
    try {
      const image = await renderImage(asBuffer(input), {
        maxPixels,
        onProgress: () => port.postMessage({ id, kind: 'progress' } satisfies RenderReply),
      });
      reply = { id, kind: 'done', image };
    } catch (err) {
      const unsafe = err instanceof UnsafeImageError;
      reply = {
        id,
        kind: 'failed',
        unsafe,
        message: unsafe ? err.reason : String((err as Error)?.message ?? err),
      };
    }
    port.postMessage(reply);
  });
}
