export interface User {
  readonly id: string;
  /** Stored lower-cased; unique ignoring case. */
  readonly email: string;
  readonly name: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly version: number;
}

/** The fields a client owns: what a create and a replace carry in full, and an update in part. */
export interface UserFields {
  readonly email: string;
  readonly name: string;
}

export const userSortFields = ['created_at', 'name', 'email'] as const;
export type UserSortField = (typeof userSortFields)[number];

export interface UserFilter {
  /** Exact address, ignoring case. */
  readonly email?: string | undefined;
  /** Case-insensitive substring of the name; wildcards are matched literally. */
  readonly q?: string | undefined;
}

/** The value a user is sorted by, as exact text (see Position). */
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

/** E-mail addresses are unique ignoring case, so they are kept in one case. */
export function normaliseEmail(email: string): string {
  return email.toLowerCase();
}
