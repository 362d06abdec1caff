import { describe, expect, it } from 'vitest';
import {
  userSortValue,
  type User,
  type UserFields,
  type UserFilter,
  type UserSortField,
} from '../../src/domain/user.js';
import { UserService, type UserTransaction } from '../../src/services/user-service.js';
import { InMemoryIdempotencyRecords, InMemoryRepository, inMemoryTransactions } from '../helpers/fakes.js';

function users() {
  const repository = new InMemoryRepository<User, UserFields, UserSortField, UserFilter>('email', userSortValue);
  const records = new InMemoryIdempotencyRecords<User>();
  const transaction: UserTransaction = { users: repository, idempotency: records };
  return { repository, service: new UserService(repository, inMemoryTransactions(transaction, repository, records)) };
}

describe('user service', () => {
  it('stores e-mail addresses lower-cased on create and on update', async () => {
    const { service } = users();
    const created = await service.create({ email: 'Ada.Lovelace@Example.COM', name: 'Ada' });
    expect(created.email).toBe('ada.lovelace@example.com');
    const updated = await service.update(created.id, { email: 'ADA@EXAMPLE.ORG' });
    expect(updated.email).toBe('ada@example.org');
    const renamed = await service.update(created.id, { name: 'Ada L.' });
    expect(renamed).toMatchObject({ email: 'ada@example.org', name: 'Ada L.', version: 3 });
  });

  it('stores the address lower-cased on an idempotent create too, and replays it', async () => {
    const { service, repository } = users();
    const request = { caller: 'alice', key: 'u-1' };
    const first = await service.createOnce(request, { email: 'Grace@Example.COM', name: 'Grace' });
    expect(first.resource.email).toBe('grace@example.com');
    const again = await service.createOnce(request, { email: 'Grace@Example.COM', name: 'Grace' });
    expect(again).toEqual({ resource: first.resource, replayed: true });
    expect(repository.rows.size).toBe(1);
  });
});
