import { availableParallelism } from 'node:os';
import { int } from '@instantpost/config';
import { s3Spec } from '@instantpost/storage';

/** media-processing's own variables, on top of the chassis ones (see README). */
export const configSpec = {
  ...s3Spec(),
  mediaConcurrency: int('MEDIA_CONCURRENCY', {
    default: availableParallelism(),
    min: 1,
    max: 64,
    doc: 'images processed at once by one replica (libvips runs one thread per image): the cores of the pod',
  }),
  mediaMaxPixels: int('MEDIA_MAX_PIXELS', {
    default: 100_000_000,
    min: 1_000_000,
    max: 1_000_000_000,
    doc: 'largest width×height decoded; a larger image (decompression bomb) is rejected from its header',
  }),
  mediaMaxBytes: int('MEDIA_MAX_BYTES', {
    default: 64 * 1024 * 1024,
    min: 1024,
    max: 1024 * 1024 * 1024,
    doc: 'largest original downloaded, in bytes (above: rejected without downloading)',
  }),
  mediaMaxDeliver: int('MEDIA_MAX_DELIVER', {
    default: 5,
    min: 1,
    max: 100,
    doc: 'deliveries of one media.uploaded before giving up (S3 or network failures are retried until then)',
  }),
  mediaAckWaitMs: int('MEDIA_ACK_WAIT_MS', {
    default: 30_000,
    min: 200,
    max: 600_000,
    doc: 'ack_wait of the consumer: a replica that dies mid-image hands the event on after this; heartbeats every third of it',
  }),
  mediaHandlerTimeoutMs: int('MEDIA_HANDLER_TIMEOUT_MS', {
    default: 120_000,
    min: 1000,
    max: 3_600_000,
    doc: 'one image may take this long (download, renditions, uploads); then the delivery times out and is retried',
  }),
  uvThreadpoolSize: int('UV_THREADPOOL_SIZE', {
    default: 4,
    min: 1,
    max: 1024,
    doc: "libuv's thread pool (read by Node at start), where sharp runs: keep it above MEDIA_CONCURRENCY",
  }),
  mediaRetryInitialMs: int('MEDIA_RETRY_INITIAL_MS', {
    default: 1000,
    min: 10,
    max: 600_000,
    doc: 'first retry delay after a transient failure; doubles per delivery up to 60 s',
  }),
};
