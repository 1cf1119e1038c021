import { Type } from '@sinclair/typebox';
import { DisplayName, Id, Text, Username } from './common.ts';

/** `account.created` — metadata created an account. */
export const AccountCreated = Type.Object(
  {
    userId: Id,
    username: Username,
    displayName: DisplayName,
    isPrivate: Type.Boolean(),
  },
  { title: 'account.created data' },
);

/** `account.updated` — a profile changed; only the changed fields are present. */
export const AccountUpdated = Type.Object(
  {
    userId: Id,
    displayName: Type.Optional(DisplayName),
    bio: Type.Optional(Text(500, 0, 'Biography, up to 500 characters')),
    isPrivate: Type.Optional(Type.Boolean()),
  },
  { title: 'account.updated data' },
);
