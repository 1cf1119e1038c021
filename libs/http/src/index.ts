export { createHttpApp, type HttpAppOptions } from './app.ts';
export type { AuthUser } from './auth.ts';
export {
  badRequest,
  conflict,
  forbidden,
  HttpError,
  HttpErrorCodes,
  type HttpErrorKind,
  notFound,
  unauthorized,
} from './errors.ts';
export type { ReadinessCheck } from './health.ts';
export {
  type AccessClaims,
  JwtError,
  JwtErrorCodes,
  loadPrivateKey,
  loadPublicKey,
  signAccessToken,
  TOKEN_ISSUER,
  verifyAccessToken,
} from './jwt.ts';
export type { Problem } from './problem.ts';
export { type Revocation, SessionRevocations } from './revocations.ts';
export { type ServeOptions, serve } from './serve.ts';
export { DEFAULT_TOKEN_CACHE_SIZE, TokenVerifier } from './token-cache.ts';
