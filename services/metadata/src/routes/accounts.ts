import { BEARER, NoContent, OPTIONAL_BEARER, replies, UserSummarySchema, userOf } from '@instantpost/http';
import type { FastifyInstance } from 'fastify';
import { userNotFound } from '../domain/errors.ts';
import type { Follows } from '../domain/follows.ts';
import type { People } from '../domain/people.ts';
import type { Sessions } from '../domain/sessions.ts';
import {
  LogInBody,
  LogOutBody,
  ProfileChanges,
  ProfileSchema,
  RefreshBody,
  SignUpBody,
  TokenPairSchema,
  UsernameParams,
  UserProfileSchema,
} from './schemas.ts';

/** Accounts, sessions and profiles. */
export function accountRoutes(
  app: FastifyInstance,
  deps: {
    sessions: Sessions;
    people: People;
    follows: Follows;
    /** Per client address (the gateway's X-Forwarded-For, see TRUSTED_PROXIES). */
    limits: {
      signUp: { max: number; timeWindow: number };
      refresh: { max: number; timeWindow: number };
    };
  },
): void {
  const { sessions } = deps;
  const tags = ['accounts'];

  app.post<{ Body: SignUpBody }>(
    '/v1/accounts',
    {
      config: { rateLimit: deps.limits.signUp },
      schema: {
        summary: 'Sign up',
        tags,
        body: SignUpBody,
        response: replies({ 201: UserSummarySchema }, 400, 409, 429),
      },
    },
    async (request, reply) => {
      const { username, password, displayName = '' } = request.body;
      return reply.status(201).send(await sessions.signUp({ username, password, displayName }));
    },
  );

  // Failed logins are limited per client address and per (username, address) by the domain itself.
  app.post<{ Body: LogInBody }>(
    '/v1/sessions',
    {
      schema: {
        summary: 'Log in: an access token and a refresh token',
        tags,
        body: LogInBody,
        response: replies({ 201: TokenPairSchema }, 400, 401, 429),
      },
    },
    async (request, reply) => {
      const { username, password } = request.body;
      return reply.status(201).send(await sessions.logIn({ username, password, client: request.ip }));
    },
  );

  app.post<{ Body: RefreshBody }>(
    '/v1/sessions/refresh',
    {
      config: { rateLimit: deps.limits.refresh },
      schema: {
        summary: 'A new token pair for a refresh token (the old one stops working)',
        tags,
        body: RefreshBody,
        response: replies({ 201: TokenPairSchema }, 400, 401, 429),
      },
    },
    async (request, reply) => reply.status(201).send(await sessions.refresh(request.body.refreshToken)),
  );

  app.delete<{ Body: LogOutBody }>(
    '/v1/sessions/current',
    {
      onRequest: app.requireUser,
      // The body is optional: no body ends the session of the access token.
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
      schema: {
        summary: 'Log out: the refresh token stops working',
        tags,
        security: BEARER,
        body: LogOutBody,
        response: replies({ 204: NoContent }, 400, 401),
      },
    },
    async (request, reply) => {
      const user = userOf(request);
      await sessions.logOut(user.id, request.body.refreshToken, user.sessionId);
      return reply.status(204).send();
    },
  );

  app.get(
    '/v1/me',
    {
      onRequest: app.requireUser,
      schema: {
        summary: "The caller's profile",
        tags,
        security: BEARER,
        response: replies({ 200: ProfileSchema }, 401, 404),
      },
    },
    async (request) => sessions.me(userOf(request).id),
  );

  app.patch<{ Body: ProfileChanges }>(
    '/v1/me',
    {
      onRequest: app.requireUser,
      schema: {
        summary: "Changes the caller's display name, bio or privacy",
        tags,
        security: BEARER,
        body: ProfileChanges,
        response: replies({ 200: ProfileSchema }, 400, 401, 404),
      },
    },
    async (request) => {
      const { displayName, bio, isPrivate } = request.body;
      return sessions.updateMe(userOf(request).id, {
        ...(displayName === undefined ? {} : { displayName }),
        ...(bio === undefined ? {} : { bio }),
        ...(isPrivate === undefined ? {} : { isPrivate }),
      });
    },
  );

  app.get<{ Params: UsernameParams }>(
    '/v1/users/:id',
    {
      onRequest: app.optionalUser,
      schema: {
        summary: 'A profile by username, with whether the caller follows it',
        tags: ['users'],
        security: OPTIONAL_BEARER,
        params: UsernameParams,
        response: replies({ 200: UserProfileSchema }, 400, 401, 404),
      },
    },
    async (request) => {
      const viewerId = request.user?.id;
      const id = await deps.people.idOf(request.params.id);
      if (id === undefined) throw userNotFound();
      const warm = await deps.people.cachedProfile(viewerId, id);
      if (warm) {
        const { profile, state } = warm;
        return { ...profile, viewer: { following: state === 'following', requested: state === 'requested' } };
      }
      const account = await deps.people.account(id);
      if (!account) throw userNotFound();
      const profile = await deps.people.profile(account.id);
      if (!profile) throw userNotFound();
      const state = await deps.people.viewerState(request.user?.id, account.id);
      return { ...profile, viewer: { following: state === 'following', requested: state === 'requested' } };
    },
  );
}
