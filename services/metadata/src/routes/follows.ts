import type { FastifyInstance } from 'fastify';
import type { Follows } from '../domain/follows.ts';
import { idParam, pageOf } from '../domain/input.ts';
import { userOf } from './accounts.ts';

type IdParams = { Params: { id: string } };
type UserIdParams = { Params: { userId: string } };

/** The follow graph. */
export function followRoutes(app: FastifyInstance, deps: { follows: Follows }): void {
  const { follows } = deps;

  app.post<IdParams>('/v1/users/:id/follow', { onRequest: app.requireUser }, async (request) => {
    const followeeId = idParam(request.params.id);
    return follows.follow(userOf(request).id, followeeId.toString());
  });

  app.delete<IdParams>('/v1/users/:id/follow', { onRequest: app.requireUser }, async (request, reply) => {
    const followeeId = idParam(request.params.id);
    await follows.unfollow(userOf(request).id, followeeId.toString());
    return reply.status(204).send();
  });

  app.get<IdParams>('/v1/users/:id/followers', { onRequest: app.optionalUser }, async (request) =>
    follows.followersOf(request.user?.id, idParam(request.params.id).toString(), pageOf(request.query)),
  );

  app.get<IdParams>('/v1/users/:id/following', { onRequest: app.optionalUser }, async (request) =>
    follows.followingOf(request.user?.id, idParam(request.params.id).toString(), pageOf(request.query)),
  );

  app.get('/v1/follow-requests', { onRequest: app.requireUser }, async (request) =>
    follows.requestsOf(userOf(request).id, pageOf(request.query)),
  );

  for (const [action, approve] of [
    ['approve', true],
    ['deny', false],
  ] as const) {
    app.post<UserIdParams>(
      `/v1/follow-requests/:userId/${action}`,
      { onRequest: app.requireUser },
      async (request, reply) => {
        const followerId = idParam(request.params.userId, 'userId');
        await follows.answerRequest(userOf(request).id, followerId.toString(), approve);
        return reply.status(204).send();
      },
    );
  }
}
