import type { KeyObject } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { unauthorized } from './errors.ts';
import { JwtError } from './jwt.ts';
import type { SessionRevocations } from './revocations.ts';
import { TokenVerifier } from './token-cache.ts';

/** Who made an authenticated request. */
export interface AuthUser {
  id: string;
  username: string;
  /** The session the token was issued for, when the issuer named one. */
  sessionId?: string;
  /** When the token expires (ms since the epoch): long-lived responses (streams) end then. */
  expiresAt: number;
}

/** A callback-style onRequest hook (an async hook costs a promise on every request). */
export type AuthHook = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void;

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `app.requireUser`; undefined on routes that do not require it. */
    user?: AuthUser;
  }
  interface FastifyInstance {
    /** An onRequest hook: 401 problem+json unless a valid bearer token is present. */
    requireUser: AuthHook;
    /** Like requireUser, but a request without a token passes as anonymous. */
    optionalUser: AuthHook;
  }
  interface FastifyContextConfig {
    /** Also accept the token as `?access_token=` (for browser EventSource, which cannot set headers). */
    acceptQueryToken?: boolean;
  }
}

function tokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw unauthorized('Authorization header must be "Bearer <token>"');
    return match[1];
  }
  if (request.routeOptions.config.acceptQueryToken) {
    const query = request.query as Record<string, unknown> | undefined;
    const token = query?.access_token;
    if (typeof token === 'string' && token.length > 0) return token;
  }
  return undefined;
}

export function registerAuth(
  app: FastifyInstance,
  publicKey: KeyObject | undefined,
  options: { tokenCacheSize?: number | undefined; revocations?: SessionRevocations | undefined } = {},
): void {
  const { tokenCacheSize, revocations } = options;
  const verifier = publicKey ? new TokenVerifier(publicKey, tokenCacheSize) : undefined;
  const authenticate = (request: FastifyRequest, required: boolean): void => {
    const token = tokenOf(request);
    if (!token) {
      if (required) throw unauthorized('missing access token');
      return;
    }
    if (!verifier) throw unauthorized('this service does not accept tokens');
    try {
      const claims = verifier.verify(token);
      // Checked on every request, cache hits included: a logout must reach tokens already verified.
      if (revocations?.isRevoked(claims)) throw unauthorized('the session of this token has ended');
      request.user = {
        id: claims.sub,
        username: claims.username,
        expiresAt: claims.exp * 1000,
        ...(claims.sid === undefined ? {} : { sessionId: claims.sid }),
      };
    } catch (err) {
      if (err instanceof JwtError) throw unauthorized(err.message);
      throw err;
    }
  };
  app.decorateRequest('user', undefined);
  const hook =
    (required: boolean): AuthHook =>
    (request, _reply, done) => {
      try {
        authenticate(request, required);
      } catch (err) {
        done(err as Error);
        return;
      }
      done();
    };
  app.decorate('requireUser', hook(true));
  app.decorate('optionalUser', hook(false));
}

/**
 * The caller of a route that has `onRequest: app.requireUser`. Throws (a 500: a programming error) when the
 * route forgot the hook, so a handler never runs as nobody.
 */
export function userOf(request: FastifyRequest): AuthUser {
  if (!request.user)
    throw new Error(`${request.routeOptions.url ?? 'this route'} needs onRequest: app.requireUser`);
  return request.user;
}
