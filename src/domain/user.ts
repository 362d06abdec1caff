import type { Sort } from './page.js';

export interface User {
  readonly id: string;
  /** Stored lower-cased; unique ignoring case. */
  readonly email: string;
  readonly name: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly version: number;
}

export interface UserFields {
  readonly email: string;
  readonly name: string;
}

export type UserPatch = Partial<UserFields>;

export const userSortFields = ['created_at', 'name', 'email'] as const;
export type UserSortField = (typeof userSortFields)[number];
export type UserSort = Sort<UserSortField>;

export interface UserFilter {
  /** Exact address, ignoring case. */
  readonly email?: string | undefined;
  /** Case-insensitive substring of the name; wildcards are matched literally. */
  readonly q?: string | undefined;
}

export function userSortValue(user: User, field: UserSortField): string {
  switch (field) {
    case 'created_at':
      return user.createdAt.toISOString();
    case 'name':
      return user.name;
    case 'email':
      return user.email;
  }
}

export function normaliseEmail(email: string): string {
  return email.toLowerCase();
}
