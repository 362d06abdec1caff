import {
  normaliseEmail,
  userSortValue,
  type User,
  type UserFields,
  type UserFilter,
  type UserSortField,
} from '../domain/user.js';
import { ResourceService, type ResourceRepository } from './resource-service.js';

/** Storage for users: `insert`/`update` throw ConflictError when the e-mail address is taken. */
export type UserRepository = ResourceRepository<User, UserFields, UserSortField, UserFilter>;

export type UserService = ResourceService<User, UserFields, UserSortField, UserFilter>;

export function createUserService(repository: UserRepository): UserService {
  return new ResourceService(repository, {
    name: 'User',
    sortValue: userSortValue,
    normalise: (fields) => (fields.email === undefined ? fields : { ...fields, email: normaliseEmail(fields.email) }),
  });
}
