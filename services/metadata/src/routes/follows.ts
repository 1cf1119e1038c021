import { BEARER, NoContent, OPTIONAL_BEARER, PageQuery, replies, userOf } from '@instantpost/http';
import type { FastifyInstance } from 'fastify';
import type { Follows } from '../domain/follows.ts';
import { idParam, pageOf } from '../domain/input.ts';
import { FollowStateSchema, IdParams, UserIdParams, UserList } from './schemas.ts';

/** The follow graph. */
export function followRoutes(app: FastifyInstance, deps: { follows: Follows }): void {
  const { follows } = deps;
  const tags = ['follows'];

  app.post<{ Params: IdParams }>(
    '/v1/users/:id/follow',
    {
      onRequest: app.requireUser,
      schema: {
        summary: 'Follow a user: `requested` when the account is private; idempotent',
        tags,
        security: BEARER,
        params: IdParams,
        response: replies({ 200: FollowStateSchema }, 400, 401, 404),
      },
    },
    async (request) => follows.follow(userOf(request).id, idParam(request.params.id).toString()),
  );

  app.delete<{ Params: IdParams }>(
    '/v1/users/:id/follow',
    {
      onRequest: app.requireUser,
      schema: {
        summary: 'Unfollow a user (or withdraw the request); idempotent',
        tags,
        security: BEARER,
        params: IdParams,
        response: replies({ 204: NoContent }, 400, 401, 404),
      },
    },
    async (request, reply) => {
      await follows.unfollow(userOf(request).id, idParam(request.params.id).toString());
      return reply.status(204).send();
    },
  );

  for (const list of ['followers', 'following'] as const) {
    app.get<{ Params: IdParams; Querystring: PageQuery }>(
      `/v1/users/:id/${list}`,
      {
        onRequest: app.optionalUser,
        schema: {
          summary: list === 'followers' ? "A user's followers" : 'Whom a user follows',
          tags,
          security: OPTIONAL_BEARER,
          params: IdParams,
          querystring: PageQuery,
          response: replies({ 200: UserList }, 400, 401, 404),
        },
      },
      async (request) => {
        const owner = idParam(request.params.id).toString();
        const page = pageOf(request.query);
        return list === 'followers'
          ? follows.followersOf(request.user?.id, owner, page)
          : follows.followingOf(request.user?.id, owner, page);
      },
    );
  }

  app.get<{ Querystring: PageQuery }>(
    '/v1/follow-requests',
    {
      onRequest: app.requireUser,
      schema: {
        summary: "The caller's pending follow requests (a private account)",
        tags,
        security: BEARER,
        querystring: PageQuery,
        response: replies({ 200: UserList }, 400, 401),
      },
    },
    async (request) => follows.requestsOf(userOf(request).id, pageOf(request.query)),
  );

  for (const [action, approve] of [
    ['approve', true],
    ['deny', false],
  ] as const) {
    app.post<{ Params: UserIdParams }>(
      `/v1/follow-requests/:userId/${action}`,
      {
        onRequest: app.requireUser,
        schema: {
          summary: approve ? 'Approve a follow request' : 'Deny a follow request',
          tags,
          security: BEARER,
          params: UserIdParams,
          response: replies({ 204: NoContent }, 400, 401, 404),
        },
      },
      async (request, reply) => {
        const followerId = idParam(request.params.userId, 'userId');
        await follows.answerRequest(userOf(request).id, followerId.toString(), approve);
        return reply.status(204).send();
      },
    );
  }
}
