import { Id, MentionSchema, Page, PostSchema, Text, UserSummarySchema } from '@instantpost/http';
import { type Static, Type } from '@sinclair/typebox';

/** TypeBox schemas of metadata's routes: validation, serialization, OpenAPI and the handlers' types. */

const Username = Type.String({
  pattern: '^[a-z0-9._]{1,30}$',
  description: '1-30 characters of a-z, 0-9, "." and "_"',
});
const Password = Text({ minLength: 8, maxLength: 256, description: 'at least 8 characters' });
const DisplayName = Text({ maxLength: 100 });
const Bio = Text({ maxLength: 500 });
const RefreshToken = Text({ minLength: 1, maxLength: 200 });

export const SignUpBody = Type.Object({
  username: Username,
  password: Password,
  displayName: Type.Optional(DisplayName),
});
export type SignUpBody = Static<typeof SignUpBody>;

// The login checks only what can be a password: a shorter one than sign-up allows is simply wrong (401).
export const LogInBody = Type.Object({
  username: Username,
  password: Text({ minLength: 1, maxLength: 256 }),
});
export type LogInBody = Static<typeof LogInBody>;

export const RefreshBody = Type.Object({ refreshToken: RefreshToken });
export type RefreshBody = Static<typeof RefreshBody>;

export const LogOutBody = Type.Object(
  { refreshToken: Type.Optional(RefreshToken) },
  { description: 'optional: without a refresh token the session of the access token ends' },
);
export type LogOutBody = Static<typeof LogOutBody>;

export const ProfileChanges = Type.Object({
  displayName: Type.Optional(DisplayName),
  bio: Type.Optional(Bio),
  isPrivate: Type.Optional(Type.Boolean()),
});
export type ProfileChanges = Static<typeof ProfileChanges>;

export const CommentBody = Type.Object({ text: Text({ minLength: 1, maxLength: 2200 }) });
export type CommentBody = Static<typeof CommentBody>;

export const IdParams = Type.Object({ id: Id() });
export type IdParams = Static<typeof IdParams>;
export const UserIdParams = Type.Object({ userId: Id({ description: 'the requesting user' }) });
export type UserIdParams = Static<typeof UserIdParams>;
/** `/v1/users/:username` (named `id` in the path: Fastify needs one name for the `/v1/users/:id` prefix). */
export const UsernameParams = Type.Object({ id: Type.String({ ...Username, description: 'the username' }) });
export type UsernameParams = Static<typeof UsernameParams>;
export const TagParams = Type.Object({
  tag: Text({ minLength: 1, maxLength: 200, description: 'with or without #' }),
});
export type TagParams = Static<typeof TagParams>;

const Counts = Type.Object({ posts: Type.Integer(), followers: Type.Integer(), following: Type.Integer() });

export const ProfileSchema = Type.Object({
  id: Id(),
  username: Type.String(),
  displayName: Type.String(),
  bio: Type.String(),
  isPrivate: Type.Boolean(),
  counts: Counts,
});

export const UserProfileSchema = Type.Object({
  ...ProfileSchema.properties,
  viewer: Type.Object({ following: Type.Boolean(), requested: Type.Boolean() }),
});

export const TokenPairSchema = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  expiresIn: Type.Integer({ description: 'seconds until the access token expires' }),
  user: UserSummarySchema,
});

export const FollowStateSchema = Type.Object({
  state: Type.Unsafe<'following' | 'requested'>({ type: 'string', enum: ['following', 'requested'] }),
});

export const CommentSchema = Type.Object({
  id: Id(),
  author: UserSummarySchema,
  text: Type.String(),
  mentions: Type.Array(MentionSchema),
  createdAt: Type.String({ format: 'date-time' }),
});

export const UserList = Page(UserSummarySchema);
export const PostList = Page(PostSchema);
export const CommentList = Page(CommentSchema);
