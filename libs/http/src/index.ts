export { createHttpApp, type HttpAppOptions } from './app.ts';
export { type AuthUser, userOf } from './auth.ts';
export {
  MentionSchema,
  type PostJson,
  PostSchema,
  RenditionSchema,
  type UserSummaryJson,
  UserSummarySchema,
} from './contract.ts';
export {
  type ErrorTrackingOptions,
  flushErrorTracking,
  parseTraceparent,
  type RequestErrorContext,
  reportRequestError,
  startErrorTracking,
} from './error-tracking.ts';
export {
  DomainError,
  type DomainErrorOptions,
  type ErrorKind,
  ErrorKinds,
  type HttpErrorCode,
  HttpErrorCodes,
} from './errors.ts';
export type { ReadinessCheck } from './health.ts';
export {
  type AccessClaims,
  JwtError,
  type JwtErrorCode,
  JwtErrorCodes,
  loadPrivateKey,
  loadPublicKey,
  signAccessToken,
  TOKEN_ISSUER,
  verifyAccessToken,
} from './jwt.ts';
export { acceptsGzip, GZIP_MIN_BYTES, keepJson, sendJson } from './kept-json.ts';
export { describeRoutes, type OpenApiDocument, schemaOnly } from './openapi.ts';
export {
  JSON_TYPE,
  jsonInt,
  jsonString,
  mediaJson,
  type PostConstant,
  type PostFragments,
  pageJson,
  postFragments,
  postJson,
  postMiddleJson,
  userSummaryJson,
} from './post-json.ts';
export { type Revocation, SessionRevocations } from './revocations.ts';
export {
  BEARER,
  type ContentReply,
  Id,
  multipartBody,
  NoContent,
  Nullable,
  OPTIONAL_BEARER,
  Page,
  PageQuery,
  type Problem,
  ProblemSchema,
  type ProblemStatus,
  replies,
  TEXT_FORMAT,
  Text,
} from './schemas.ts';
export { type ServeOptions, serve } from './serve.ts';
export {
  type Counter,
  counter,
  countRouteOutcomes,
  type Gauge,
  gauge,
  type Histogram,
  histogram,
  type MetricOptions,
} from './service-metrics.ts';
export { DEFAULT_TOKEN_CACHE_SIZE, TokenVerifier } from './token-cache.ts';
