/**
 * Names for the shapes the screens use, taken from the generated `generated/api-schema.ts` (`npm run gen`, from
 * deploy/openapi/openapi.json): a change of the public API shows up here as a type error.
 */
import type { paths } from '../../generated/api-schema.ts';

type Json<T> = T extends { content: { 'application/json': infer B } } ? B : never;
type Ok<Op, Status extends number> = Op extends { responses: infer R }
  ? Status extends keyof R
    ? Json<R[Status]>
    : never
  : never;

export type Session = Ok<paths['/v1/sessions']['post'], 201>;
export type User = Session['user'];
export type Me = Ok<paths['/v1/me']['get'], 200>;
export type FeedPage = Ok<paths['/v1/feed']['get'], 200>;
export type Post = FeedPage['items'][number];
export type Rendition = Post['media']['renditions'][number];
export type MediaStatus = Ok<paths['/v1/media/{id}/status']['get'], 200>;
export type NotificationPage = Ok<paths['/v1/notifications']['get'], 200>;
export type Notification = NotificationPage['items'][number];
export type SignUpBody = paths['/v1/accounts']['post']['requestBody']['content']['application/json'];

/** An `application/problem+json` body (API.md): what went wrong, for a person. */
export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  code?: string;
}
export type Profile = Ok<paths['/v1/users/{id}']['get'], 200>;
export type FollowReply = Ok<paths['/v1/users/{id}/follow']['post'], 200>;
export type PostPage = Ok<paths['/v1/users/{id}/posts']['get'], 200>;
export type FollowRequestPage = Ok<paths['/v1/follow-requests']['get'], 200>;
export type CommentPage = Ok<paths['/v1/posts/{id}/comments']['get'], 200>;
export type Comment = Ok<paths['/v1/posts/{id}/comments']['post'], 201>;
export type PostById = Ok<paths['/v1/posts/{id}']['get'], 200>;
