import { type AuthUser, notFound } from '@instantpost/http';
import type { FastifyInstance } from 'fastify';
import type { Follows } from '../domain/follows.ts';
import {
  objectBody,
  optionalBoolean,
  optionalString,
  parseUsername,
  requiredString,
} from '../domain/input.ts';
import type { People } from '../domain/people.ts';
import type { Sessions } from '../domain/sessions.ts';

const PASSWORD = { min: 8, max: 256 };
const DISPLAY_NAME = { max: 100 };
const BIO = { max: 500 };

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

  app.post('/v1/accounts', { config: { rateLimit: deps.limits.signUp } }, async (request, reply) => {
    const body = objectBody(request.body);
    const username = parseUsername(body.username);
    const password = requiredString(body, 'password', PASSWORD);
    const displayName = optionalString(body, 'displayName', DISPLAY_NAME) ?? '';
    const user = await sessions.signUp({ username, password, displayName });
    return reply.status(201).send(user);
  });

  // Failed logins are limited per client address and per (username, address) by the domain itself.
  app.post('/v1/sessions', async (request, reply) => {
    const body = objectBody(request.body);
    const username = parseUsername(body.username);
    const password = requiredString(body, 'password', { min: 1, max: PASSWORD.max });
    return reply.status(201).send(await sessions.logIn({ username, password, client: request.ip }));
  });

  app.post('/v1/sessions/refresh', { config: { rateLimit: deps.limits.refresh } }, async (request, reply) => {
    const body = objectBody(request.body);
    const refreshToken = requiredString(body, 'refreshToken', { min: 1, max: 200 });
    return reply.status(201).send(await sessions.refresh(refreshToken));
  });

  app.delete('/v1/sessions/current', { onRequest: app.requireUser }, async (request, reply) => {
    const body = request.body === undefined || request.body === null ? {} : objectBody(request.body);
    const refreshToken = optionalString(body, 'refreshToken', { min: 1, max: 200 });
    const user = userOf(request);
    await sessions.logOut(user.id, refreshToken, user.sessionId);
    return reply.status(204).send();
  });

  app.get('/v1/me', { onRequest: app.requireUser }, async (request) => sessions.me(userOf(request).id));

  app.patch('/v1/me', { onRequest: app.requireUser }, async (request) => {
    const body = objectBody(request.body);
    const changes: { displayName?: string; bio?: string; isPrivate?: boolean } = {};
    const displayName = optionalString(body, 'displayName', DISPLAY_NAME);
    const bio = optionalString(body, 'bio', BIO);
    const isPrivate = optionalBoolean(body, 'isPrivate');
    if (displayName !== undefined) changes.displayName = displayName;
    if (bio !== undefined) changes.bio = bio;
    if (isPrivate !== undefined) changes.isPrivate = isPrivate;
    return sessions.updateMe(userOf(request).id, changes);
  });

  app.get<{ Params: { id: string } }>('/v1/users/:id', { onRequest: app.optionalUser }, async (request) => {
    const username = parseUsername(request.params.id);
    const account = await deps.people.byUsername(username);
    if (!account) throw notFound('user not found');
    const profile = await deps.people.profile(account.id);
    if (!profile) throw notFound('user not found');
    const state = await deps.follows.viewerState(request.user?.id, account.id);
    return { ...profile, viewer: { following: state === 'following', requested: state === 'requested' } };
  });
}

/** The authenticated user (routes with `onRequest: app.requireUser`). */
export function userOf(request: { user?: AuthUser | undefined }): AuthUser {
  if (!request.user) throw new Error('route needs app.requireUser');
  return request.user;
}
