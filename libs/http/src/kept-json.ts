import { gzipSync } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { JSON_TYPE } from './post-json.ts';

/** Below this a reply is sent as it is (the gateway's `gzip_min_length` too): gzip would not pay. */
export const GZIP_MIN_BYTES = 1024;

/**
 * The gzip of each kept reply, made on its first send to a client that accepts gzip (null until then). A
 * WeakMap: the gzip lives exactly as long as the service keeps the bytes.
 */
const gzipOf = new WeakMap<Buffer, Buffer | null>();

/**
 * Marks JSON bytes the service keeps and sends again (a memoized page, a kept reply): `sendJson` gzips them
 * once, on their first send to a client that accepts gzip, and sends that gzip to every such client while
 * they are kept. The gateway would otherwise compress a ~23 KB feed page again on every request (bench/system
 * with `encoding gzip`: feed 0.20 of the bare route, posts and grids 0.41-0.43), and the service would write
 * the whole page to it each time. Returns `bytes`.
 */
export function keepJson(bytes: Buffer): Buffer {
  if (bytes.length >= GZIP_MIN_BYTES && !gzipOf.has(bytes)) gzipOf.set(bytes, null);
  return bytes;
}

/** Whether an Accept-Encoding header takes gzip: named without `q=0`, or not named and `*` without it. */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  if (header === undefined) return false;
  let any = false;
  for (const part of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const [coding = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    const wanted = q === undefined || Number(q.slice(2)) > 0;
    if (coding === 'gzip') return wanted;
    if (coding === '*') any = wanted;
  }
  return any;
}

/**
 * Sends JSON bytes: kept ones (`keepJson`) as their gzip to clients that accept it, everything else as it
 * is (the gateway compresses those for clients that ask). Byte for byte the same JSON either way.
 */
export function sendJson(request: FastifyRequest, reply: FastifyReply, bytes: Buffer): FastifyReply {
  reply.type(JSON_TYPE);
  const kept = gzipOf.get(bytes);
  if (kept === undefined) return reply.send(bytes);
  reply.header('vary', 'Accept-Encoding');
  if (!acceptsGzip(request.headers['accept-encoding'])) return reply.send(bytes);
  let gzip = kept;
  if (gzip === null) {
    gzip = gzipSync(bytes);
    gzipOf.set(bytes, gzip);
  }
  return reply.header('content-encoding', 'gzip').send(gzip);
}
