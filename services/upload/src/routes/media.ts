import { badRequest, HttpError, notFound } from '@instantpost/http';
import { isId } from '@instantpost/ids';
import { ShardError } from '@instantpost/shards';
import type { Logger } from '@instantpost/telemetry';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { acceptUpload } from '../domain/accept-upload.ts';
import { UploadError } from '../domain/errors.ts';
import type { OriginalStore } from '../domain/receive.ts';
import type { UploadStore } from '../store/uploads.ts';
import { openForm } from './form.ts';

export interface MediaRoutesDeps {
  readonly uploads: UploadStore;
  readonly originals: OriginalStore;
  readonly bucket: string;
  readonly maxBytes: number;
  readonly rateLimit: { readonly max: number; readonly windowMs: number };
  readonly logger: Logger;
}

const MediaStatusReply = {
  type: 'object',
  required: ['id', 'status'],
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: ['processing', 'published', 'rejected'] },
    reason: { type: 'string' },
    duplicate: { type: 'boolean' },
  },
} as const;

function toHttpError(err: unknown): unknown {
  if (!(err instanceof UploadError)) return err;
  switch (err.kind) {
    case 'tooLarge':
      return new HttpError('payloadTooLarge', err.message, { cause: err });
    case 'unsupportedType':
      return new HttpError('unsupportedMediaType', err.message, { cause: err });
    case 'invalidField':
      return badRequest(err.message, err.field);
  }
}

function userOf(request: FastifyRequest): { id: string } {
  const user = request.user;
  // requireUser ran first; a token whose subject is not an id was not issued by metadata.
  if (!user || !isId(user.id)) throw new HttpError('unauthorized', 'the token does not name a user');
  return user;
}

/** `POST /v1/media` and `GET /v1/media/:id/status`. */
export function registerMediaRoutes(app: FastifyInstance, deps: MediaRoutesDeps): void {
  app.post(
    '/v1/media',
    {
      onRequest: app.requireUser,
      config: {
        rateLimit: {
          max: deps.rateLimit.max,
          timeWindow: deps.rateLimit.windowMs,
          // per user, not per address: the hook runs after requireUser set request.user
          keyGenerator: (request: FastifyRequest) => `upload:${request.user?.id ?? request.ip}`,
        },
      },
      schema: {
        summary: 'Upload a photo (multipart: file field "photo", fields "caption", "altText")',
        security: [{ bearer: [] }],
        response: { 202: MediaStatusReply },
      },
    },
    async (request, reply) => {
      const owner = userOf(request);
      if (!request.isMultipart()) {
        throw new HttpError('unsupportedMediaType', 'send multipart/form-data with a file field "photo"');
      }
      const form = openForm(request);
      const accepted = await acceptUpload(owner.id, form.parts, {
        uploads: deps.uploads,
        originals: deps.originals,
        bucket: deps.bucket,
        maxBytes: deps.maxBytes,
        logger: request.log as unknown as Logger,
      }).catch(async (err: unknown) => {
        await form.drain();
        throw toHttpError(err);
      });
      return reply.code(202).send({
        id: accepted.id,
        status: accepted.status,
        ...(accepted.reason ? { reason: accepted.reason } : {}),
        ...(accepted.duplicate ? { duplicate: true } : {}),
      });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/media/:id/status',
    {
      onRequest: app.requireUser,
      schema: {
        summary: "An upload's status (owner only)",
        security: [{ bearer: [] }],
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
        response: { 200: MediaStatusReply },
      },
    },
    async (request) => {
      const owner = userOf(request);
      const id = request.params.id;
      if (!isId(id)) throw badRequest('id must be a media id (a decimal string)', 'id');
      let row: Awaited<ReturnType<UploadStore['statusForOwner']>>;
      try {
        row = await deps.uploads.statusForOwner(id, owner.id);
      } catch (err) {
        // an id whose shard is not in the map was never issued here
        if (err instanceof ShardError) throw notFound('no such media');
        throw err;
      }
      if (!row) throw notFound('no such media');
      return { id: row.id, status: row.status, ...(row.reason ? { reason: row.reason } : {}) };
    },
  );
}
