import { z } from 'zod';
import { userSortFields, type User, type UserSortField } from '../domain/user.js';
import {
  Cursor,
  Limit,
  NO_CONTROL_CHARACTERS,
  pageOf,
  SearchText,
  singleLine,
  sortParam,
  Timestamp,
  withoutControlCharacters,
} from './schemas.js';

const Email = z.email().max(254).describe('Unique ignoring case; stored and returned lower-cased');
const Name = singleLine(2, 100).describe('Trimmed; 2–100 characters');

export const UserCreate = z
  .strictObject({ email: Email, name: Name })
  .meta({ id: 'NewUser', example: { email: 'ada@example.com', name: 'Ada Lovelace' } });

export const UserReplace = UserCreate;

export const UserPatch = z
  .strictObject({ email: Email.optional(), name: Name.optional() })
  .refine((patch) => Object.keys(patch).length > 0, 'must contain at least one field')
  .meta({ id: 'UserPatch', minProperties: 1 });

export const UserResponse = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string(),
    created_at: Timestamp,
    updated_at: Timestamp,
    version: z.number().int().describe('Starts at 1, +1 on every change; the ETag is its quoted value'),
  })
  .meta({ id: 'User' });

export const UserPage = pageOf(UserResponse).meta({ id: 'UserPage' });

export const UserListQuery = z
  .strictObject({
    limit: Limit,
    cursor: Cursor.optional(),
    sort: sortParam(userSortFields, '-created_at'),
    email: withoutControlCharacters(z.string().min(1).max(254)).optional().describe('Exact address, ignoring case'),
    q: SearchText.optional(),
  })
  .transform(({ limit, cursor, sort, email, q }) => ({ limit, cursor, sort, filter: { email, q } }));

export const userSortValuePatterns: Readonly<Record<UserSortField, RegExp>> = {
  created_at: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/,
  name: NO_CONTROL_CHARACTERS,
  email: NO_CONTROL_CHARACTERS,
};

export function presentUser(user: User): z.input<typeof UserResponse> {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
    version: user.version,
  };
}
