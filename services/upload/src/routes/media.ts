import {
  BEARER,
  userOf as callerOf,
  DomainError,
  HttpErrorCodes,
  Id,
  multipartBody,
  replies,
} from '@instantpost/http';
import { isId } from '@instantpost/ids';
import { ShardError } from '@instantpost/shards';
import type { Logger } from '@instantpost/telemetry';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { acceptUpload } from '../domain/accept-upload.ts';
import { UploadError, UploadErrorCodes } from '../domain/errors.ts';
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

const MediaStatusReply = Type.Object({
  id: Id(),
  status: Type.Unsafe<'processing' | 'published' | 'rejected'>({
    type: 'string',
    enum: ['processing', 'published', 'rejected'],
  }),
  reason: Type.Optional(Type.String({ description: 'why the photo was rejected' })),
  duplicate: Type.Optional(
    Type.Boolean({ description: 'the same bytes were uploaded before: this is that upload' }),
  ),
});

/** The form of POST /v1/media (read part by part by the route, documented here). */
const UploadForm = Type.Object({
  photo: Type.String({ format: 'binary', description: 'JPEG, PNG, WebP or AVIF' }),
  caption: Type.Optional(Type.String({ maxLength: 2200 })),
  altText: Type.Optional(Type.String()),
});

const MediaIdParams = Type.Object({ id: Id({ description: 'the media id POST /v1/media answered with' }) });
type MediaIdParams = Static<typeof MediaIdParams>;

/** The caller; a token whose subject is not an id was not issued by metadata. */
function userOf(request: FastifyRequest): { id: string } {
  const user = callerOf(request);
  if (!isId(user.id)) {
    throw new DomainError('unauthorized', HttpErrorCodes.Unauthorized, 'the token does not name a user');
  }
  return user;
}

const noSuchMedia = () => new UploadError(UploadErrorCodes.NotFound, 'no such media');

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
        description:
          'multipart/form-data: a file field `photo` (JPEG, PNG, WebP or AVIF), text fields `caption` ' +
          '(at most 2200 characters) and `altText`. Streamed to storage; processing goes on after the 202.',
        tags: ['media'],
        security: BEARER,
        ...multipartBody(UploadForm),
        response: replies({ 202: MediaStatusReply }, 400, 401, 413, 415, 429),
      },
    },
    async (request, reply) => {
      const owner = userOf(request);
      if (!request.isMultipart()) {
        throw new UploadError(
          UploadErrorCodes.UnsupportedType,
          'send multipart/form-data with a file field "photo"',
        );
      }
      const form = openForm(request);
      const accepted = await acceptUpload(owner.id, form.parts, {
        uploads: deps.uploads,
        originals: deps.originals,
        bucket: deps.bucket,
        maxBytes: deps.maxBytes,
        logger: request.log as unknown as Logger,
      }).catch(async (err: unknown) => {
        // The reply must reach a client that is still sending: read the rest of the request first.
        await form.drain();
        throw err;
      });
      return reply.code(202).send({
        id: accepted.id,
        status: accepted.status,
        ...(accepted.reason ? { reason: accepted.reason } : {}),
        ...(accepted.duplicate ? { duplicate: true } : {}),
      });
    },
  );

  app.get<{ Params: MediaIdParams }>(
    '/v1/media/:id/status',
    {
      onRequest: app.requireUser,
      schema: {
        summary: "An upload's status (owner only)",
        tags: ['media'],
        security: BEARER,
        params: MediaIdParams,
        response: replies({ 200: MediaStatusReply }, 400, 401, 404),
      },
    },
    async (request) => {
      const owner = userOf(request);
      const id = request.params.id;
      if (!isId(id)) {
        throw new UploadError(
          UploadErrorCodes.InvalidField,
          'id must be a media id (a decimal string)',
          'id',
        );
      }
      // an id whose shard is not in the map was never issued here
      const row = await deps.uploads.statusForOwner(id, owner.id).catch((err: unknown) => {
        throw err instanceof ShardError ? noSuchMedia() : err;
      });
      if (!row) throw noSuchMedia();
      return { id: row.id, status: row.status, ...(row.reason ? { reason: row.reason } : {}) };
    },
  );
}
