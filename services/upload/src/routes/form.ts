import { once } from 'node:events';
import type { Readable } from 'node:stream';
import type { Multipart } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import type { FormPart } from '../domain/accept-upload.ts';

/** A multipart request read part by part, and what is left of it drained when the upload is refused early. */
export interface Form {
  /** The parts in the order sent; leaving the loop early does not close the request. */
  readonly parts: AsyncIterable<FormPart>;
  /**
   * Reads and discards the rest of the request, so the reply reaches the client on a connection that stays
   * usable (a client still sending its body gets a reset otherwise). Bounded by the multipart limits.
   */
  drain(): Promise<void>;
}

async function discard(file: Readable): Promise<void> {
  if (file.readableEnded || file.destroyed) return;
  file.resume();
  await once(file, 'end').catch(() => {});
}

export function openForm(request: FastifyRequest): Form {
  const source: AsyncIterator<Multipart> = request.parts()[Symbol.asyncIterator]();
  let current: Readable | undefined;
  const next = async (): Promise<IteratorResult<FormPart>> => {
    const got = await source.next();
    if (got.done) return { done: true, value: undefined };
    const part = got.value;
    if (part.type === 'file') {
      current = part.file;
      return { done: false, value: { kind: 'file', name: part.fieldname, stream: part.file } };
    }
    current = undefined;
    return {
      done: false,
      value: { kind: 'field', name: part.fieldname, value: part.value, truncated: part.valueTruncated },
    };
  };
  return {
    // no return(): a `for await` that stops early leaves the request for drain()
    parts: { [Symbol.asyncIterator]: () => ({ next }) },
    async drain() {
      try {
        if (current) await discard(current);
        for (;;) {
          const got = await source.next();
          if (got.done) return;
          if (got.value.type === 'file') await discard(got.value.file);
        }
      } catch {
        // a malformed or over-limit rest of the body: the reply already says what was wrong first
      }
    },
  };
}
