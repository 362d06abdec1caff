import { NotFoundError } from '../domain/errors.js';
import { newId } from '../domain/id.js';
import { toPage, type ListQuery, type Page } from '../domain/page.js';
import {
  normaliseEmail,
  userSortValue,
  type User,
  type UserFields,
  type UserFilter,
  type UserSortField,
} from '../domain/user.js';
import type { Created, IdempotencyRecords, IdempotentRequest } from './idempotency.js';
import type { UnitOfWork } from './unit-of-work.js';
import type { VersionedRepository } from './versioned-repository.js';
import { settle, type WriteCondition } from './write-outcome.js';

export type UserListQuery = ListQuery<UserSortField, UserFilter>;

/** Storage for users. Writes throw AlreadyExistsError when the e-mail address is taken. */
export type UserRepository = VersionedRepository<User, UserFields, UserListQuery>;

/** What a user write may use inside one transaction. */
export interface UserTransaction {
  readonly users: UserRepository;
  readonly idempotency: IdempotencyRecords<User>;
}

/** The user use cases; e-mail addresses are stored lower-cased on every write. */
export class UserService {
  readonly #users: UserRepository;
  readonly #transactions: UnitOfWork<UserTransaction>;

  constructor(users: UserRepository, transactions: UnitOfWork<UserTransaction>) {
    this.#users = users;
    this.#transactions = transactions;
  }

  async create(fields: UserFields): Promise<User> {
    return this.#users.insert(newId(), { ...fields, email: normaliseEmail(fields.email) });
  }

  /** A create that a retry with the same key replays instead of repeating. */
  async createOnce(request: IdempotentRequest, fields: UserFields): Promise<Created<User>> {
    const key = { ...request, operation: 'users.create', request: JSON.stringify(fields) };
    return this.#transactions.transaction(async ({ users, idempotency }) => {
      const earlier = await idempotency.claim(key);
      if (earlier !== null) return { resource: earlier, replayed: true };
      const user = await users.insert(newId(), { ...fields, email: normaliseEmail(fields.email) });
      await idempotency.save(key, user);
      return { resource: user, replayed: false };
    });
  }

  async get(id: string): Promise<User> {
    const user = await this.#users.findById(id);
    if (user === null) throw new NotFoundError('User', id);
    return user;
  }

  /** One extra row is fetched: it only proves that a next page exists. */
  async list(query: UserListQuery, options: { signal?: AbortSignal } = {}): Promise<Page<User>> {
    const rows = await this.#users.list({ ...query, limit: query.limit + 1 }, options.signal);
    return toPage(rows, query.limit, (user) => userSortValue(user, query.sort.field));
  }

  /** Changes only the given fields (PATCH). */
  async update(id: string, changes: Partial<UserFields>, condition: WriteCondition = {}): Promise<User> {
    const normalised = changes.email === undefined ? changes : { ...changes, email: normaliseEmail(changes.email) };
    return settle(await this.#users.update(id, normalised, condition.expectedVersion), 'User', id);
  }

  /** Replaces every client-owned field (PUT). */
  replace(id: string, fields: UserFields, condition: WriteCondition = {}): Promise<User> {
    return this.update(id, fields, condition);
  }

  async delete(id: string, condition: WriteCondition = {}): Promise<void> {
    settle(await this.#users.delete(id, condition.expectedVersion, condition.signal), 'User', id);
  }
}
