import { badRequest } from '@instantpost/http';
import type { FastifyInstance } from 'fastify';
import { idParam, objectBody, pageOf, requiredString } from '../domain/input.ts';
import type { interactions } from '../domain/interactions.ts';
import type { Posts } from '../domain/posts.ts';
import { userOf } from './accounts.ts';

type IdParams = { Params: { id: string } };

/** Posts, likes, comments and tags. */
export function postRoutes(
  app: FastifyInstance,
  deps: { posts: Posts; interactions: ReturnType<typeof interactions> },
): void {
  const { posts } = deps;
  const postId = (params: { id: string }) => idParam(params.id).toString();

  app.get<IdParams>('/v1/posts/:id', { onRequest: app.optionalUser }, async (request) =>
    posts.view(request.user?.id, postId(request.params)),
  );

  app.delete<IdParams>('/v1/posts/:id', { onRequest: app.requireUser }, async (request, reply) => {
    await posts.delete(userOf(request).id, postId(request.params));
    return reply.status(204).send();
  });

  app.get<IdParams>('/v1/users/:id/posts', { onRequest: app.optionalUser }, async (request) =>
    posts.grid(request.user?.id, postId(request.params), pageOf(request.query)),
  );

  for (const [method, liked] of [
    ['post', true],
    ['delete', false],
  ] as const) {
    app[method]<IdParams>('/v1/posts/:id/likes', { onRequest: app.requireUser }, async (request, reply) => {
      await deps.interactions.setLike(userOf(request).id, postId(request.params), liked);
      return reply.status(204).send();
    });
  }

  app.post<IdParams>('/v1/posts/:id/comments', { onRequest: app.requireUser }, async (request, reply) => {
    const id = postId(request.params);
    const text = requiredString(objectBody(request.body), 'text', { min: 1, max: 2200 });
    return reply.status(201).send(await deps.interactions.comment(userOf(request).id, id, text));
  });

  app.get<IdParams>('/v1/posts/:id/comments', { onRequest: app.optionalUser }, async (request) =>
    deps.interactions.comments(request.user?.id, postId(request.params), pageOf(request.query)),
  );

  app.get<{ Params: { tag: string } }>(
    '/v1/tags/:tag/posts',
    { onRequest: app.optionalUser },
    async (request) => {
      const tag = request.params.tag;
      if (tag.length === 0 || tag.length > 200 || !tag.isWellFormed() || tag.includes('\u0000')) {
        throw badRequest('tag must be 1-100 characters', 'tag');
      }
      return posts.tagged(request.user?.id, tag.replace(/^#/, ''), pageOf(request.query));
    },
  );
}
