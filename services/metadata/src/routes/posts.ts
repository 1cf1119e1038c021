import {
  BEARER,
  JSON_TYPE,
  NoContent,
  OPTIONAL_BEARER,
  PageQuery,
  PostSchema,
  replies,
  sendJson,
  userOf,
} from '@instantpost/http';
import type { FastifyInstance } from 'fastify';
import { idParam, pageOf } from '../domain/input.ts';
import type { interactions } from '../domain/interactions.ts';
import type { Posts } from '../domain/posts.ts';
import { CommentBody, CommentList, CommentSchema, IdParams, PostList, TagParams } from './schemas.ts';

/** Posts, likes, comments and tags. */
export function postRoutes(
  app: FastifyInstance,
  deps: { posts: Posts; interactions: ReturnType<typeof interactions> },
): void {
  const { posts } = deps;
  const postId = (params: IdParams) => idParam(params.id).toString();
  const tags = ['posts'];

  app.get<{ Params: IdParams }>(
    '/v1/posts/:id',
    {
      onRequest: app.optionalUser,
      schema: {
        summary: 'A post (404 if deleted or not visible to the caller)',
        tags,
        security: OPTIONAL_BEARER,
        params: IdParams,
        response: replies({ 200: PostSchema }, 400, 401, 404),
      },
    },
    // Written by domain/posts.ts in the shape of PostSchema (which documents it): sent as is.
    async (request, reply) =>
      sendJson(request, reply, await posts.view(request.user?.id, postId(request.params))),
  );

  app.delete<{ Params: IdParams }>(
    '/v1/posts/:id',
    {
      onRequest: app.requireUser,
      schema: {
        summary: 'Delete a post (author only); it leaves every feed',
        tags,
        security: BEARER,
        params: IdParams,
        response: replies({ 204: NoContent }, 400, 401, 403, 404),
      },
    },
    async (request, reply) => {
      await posts.delete(userOf(request).id, postId(request.params));
      return reply.status(204).send();
    },
  );

  app.get<{ Params: IdParams; Querystring: PageQuery }>(
    '/v1/users/:id/posts',
    {
      onRequest: app.optionalUser,
      schema: {
        summary: "A user's profile grid, newest first",
        tags,
        security: OPTIONAL_BEARER,
        params: IdParams,
        querystring: PageQuery,
        response: replies({ 200: PostList }, 400, 401, 404),
      },
    },
    async (request, reply) =>
      sendJson(
        request,
        reply,
        await posts.grid(request.user?.id, postId(request.params), pageOf(request.query)),
      ),
  );

  for (const [method, liked] of [
    ['post', true],
    ['delete', false],
  ] as const) {
    app[method]<{ Params: IdParams }>(
      '/v1/posts/:id/likes',
      {
        onRequest: app.requireUser,
        schema: {
          summary: liked ? 'Like a post; idempotent' : 'Unlike a post; idempotent',
          tags,
          security: BEARER,
          params: IdParams,
          response: replies({ 204: NoContent }, 400, 401, 404),
        },
      },
      async (request, reply) => {
        await deps.interactions.setLike(userOf(request).id, postId(request.params), liked);
        return reply.status(204).send();
      },
    );
  }

  app.post<{ Params: IdParams; Body: CommentBody }>(
    '/v1/posts/:id/comments',
    {
      onRequest: app.requireUser,
      schema: {
        summary: 'Comment on a post',
        tags,
        security: BEARER,
        params: IdParams,
        body: CommentBody,
        response: replies({ 201: CommentSchema }, 400, 401, 404),
      },
    },
    async (request, reply) => {
      const id = postId(request.params);
      return reply
        .status(201)
        .send(await deps.interactions.comment(userOf(request).id, id, request.body.text));
    },
  );

  app.get<{ Params: IdParams; Querystring: PageQuery }>(
    '/v1/posts/:id/comments',
    {
      onRequest: app.optionalUser,
      schema: {
        summary: "A post's comments, oldest first",
        tags,
        security: OPTIONAL_BEARER,
        params: IdParams,
        querystring: PageQuery,
        response: replies({ 200: CommentList }, 400, 401, 404),
      },
    },
    async (request) =>
      deps.interactions.comments(request.user?.id, postId(request.params), pageOf(request.query)),
  );

  app.get<{ Params: TagParams; Querystring: PageQuery }>(
    '/v1/tags/:tag/posts',
    {
      onRequest: app.optionalUser,
      schema: {
        summary: 'Posts with a hashtag, newest first',
        tags,
        security: OPTIONAL_BEARER,
        params: TagParams,
        querystring: PageQuery,
        response: replies({ 200: PostList }, 400, 401),
      },
    },
    async (request, reply) =>
      reply
        .type(JSON_TYPE)
        .send(
          await posts.tagged(request.user?.id, request.params.tag.replace(/^#/, ''), pageOf(request.query)),
        ),
  );
}
