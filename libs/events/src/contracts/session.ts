import { Type } from '@sinclair/typebox';
import { Id, Timestamp } from './common.ts';

/**
 * `session.revoked` — metadata ended a session (logout, or a replayed refresh token). Every service
 * refuses the session's access tokens from then on and closes what they hold open (notification streams).
 * Without `sessionId`, every session of the user that existed at `revokedAt` ended (tokens issued at or
 * before that second).
 */
export const SessionRevoked = Type.Object(
  {
    userId: Id,
    sessionId: Type.Optional(Id),
    revokedAt: Timestamp,
    reason: Type.Union([Type.Literal('logout'), Type.Literal('refresh_reuse'), Type.Literal('logout_all')]),
  },
  { title: 'session.revoked data' },
);
