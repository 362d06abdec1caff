import { describe, expect, it, vi } from 'vitest';
import { ConflictError, NotFoundError, PreconditionFailedError } from '../../src/domain/errors.js';
import {
  productSortValue,
  type Product,
  type ProductFields,
  type ProductFilter,
  type ProductSortField,
} from '../../src/domain/product.js';
import {
  userSortValue,
  type User,
  type UserFields,
  type UserFilter,
  type UserSortField,
} from '../../src/domain/user.js';
import { createProductService } from '../../src/services/product-service.js';
import { createUserService } from '../../src/services/user-service.js';
import { InMemoryRepository } from '../helpers/in-memory-repository.js';

const fields = (sku: string, overrides: Partial<ProductFields> = {}): ProductFields => ({
  sku,
  name: `Name ${sku}`,
  description: '',
  price: 10,
  currency: 'USD',
  ...overrides,
});

function products() {
  const repository = new InMemoryRepository<Product, ProductFields, ProductSortField, ProductFilter>(
    'sku',
    productSortValue,
  );
  return { repository, service: createProductService(repository) };
}

const sortByName = { field: 'name', direction: 'asc' } as const;

describe('product service', () => {
  it('creates a product under a fresh time-ordered UUIDv7', async () => {
    const { service, repository } = products();
    const first = await service.create(fields('A-1'));
    const second = await service.create(fields('A-2'));
    expect(first.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(first.id < second.id).toBe(true);
    expect(repository.rows.size).toBe(2);
  });

  it('throws NotFoundError for an unknown id on get, update and delete', async () => {
    const { service } = products();
    const id = '01890000-0000-7000-8000-000000000000';
    await expect(service.get(id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(service.update(id, { name: 'x' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(service.delete(id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('pages by fetching one extra row and reports where the next page starts', async () => {
    const { service } = products();
    for (const sku of ['c', 'a', 'e', 'b', 'd']) await service.create(fields(sku, { name: sku }));
    const first = await service.list({ sort: sortByName, after: null, limit: 2, filter: {} });
    expect(first.items.map((p) => p.name)).toEqual(['a', 'b']);
    expect(first.next).toEqual({ value: 'b', id: first.items[1]?.id });
    const second = await service.list({ sort: sortByName, after: first.next, limit: 2, filter: {} });
    expect(second.items.map((p) => p.name)).toEqual(['c', 'd']);
    const last = await service.list({ sort: sortByName, after: second.next, limit: 2, filter: {} });
    expect(last.items.map((p) => p.name)).toEqual(['e']);
    expect(last.next).toBeNull();
  });

  it('returns no next position when the page is exactly full', async () => {
    const { service } = products();
    await service.create(fields('x'));
    await service.create(fields('y'));
    const page = await service.list({ sort: sortByName, after: null, limit: 2, filter: {} });
    expect(page.items).toHaveLength(2);
    expect(page.next).toBeNull();
  });

  it('makes one page from a result the repository shared, and its own page from any other', async () => {
    const { service, repository } = products();
    for (const sku of ['a', 'b', 'c']) await service.create(fields(sku, { name: sku }));
    const query = { sort: sortByName, after: null, limit: 2, filter: {} };
    const shared = await repository.list({ ...query, limit: 3 });
    const list = vi.spyOn(repository, 'list').mockResolvedValue(shared);
    const [first, second] = await Promise.all([service.list(query), service.list(query)]);
    expect(second).toBe(first);
    expect(first.items.map((p) => p.name)).toEqual(['a', 'b']);
    list.mockRestore();
    const fresh = await service.list(query);
    expect(fresh).not.toBe(first);
    expect(fresh).toEqual(first);
  });

  it('updates only when the expected version still matches', async () => {
    const { service } = products();
    const created = await service.create(fields('V-1'));
    const updated = await service.update(created.id, { price: 12 }, { expectedVersion: 1 });
    expect(updated.version).toBe(2);
    expect(updated.price).toBe(12);
    await expect(service.update(created.id, { price: 13 }, { expectedVersion: 1 })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    await expect(service.delete(created.id, { expectedVersion: 1 })).rejects.toBeInstanceOf(PreconditionFailedError);
    await service.delete(created.id, { expectedVersion: 2 });
    await expect(service.get(created.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('replace writes every field', async () => {
    const { service } = products();
    const created = await service.create(fields('R-1', { description: 'old', currency: 'EUR' }));
    const replaced = await service.replace(created.id, fields('R-2'));
    expect(replaced).toMatchObject({ sku: 'R-2', description: '', currency: 'USD', version: 2 });
  });

  it('lets the repository’s ConflictError through for a taken key', async () => {
    const { service } = products();
    await service.create(fields('DUP'));
    await expect(service.create(fields('dup'))).rejects.toBeInstanceOf(ConflictError);
  });
});

describe('user service', () => {
  function users() {
    const repository = new InMemoryRepository<User, UserFields, UserSortField, UserFilter>('email', userSortValue);
    return { repository, service: createUserService(repository) };
  }

  it('stores e-mail addresses lower-cased on create and on update', async () => {
    const { service } = users();
    const created = await service.create({ email: 'Ada.Lovelace@Example.COM', name: 'Ada' });
    expect(created.email).toBe('ada.lovelace@example.com');
    const updated = await service.update(created.id, { email: 'ADA@EXAMPLE.ORG' });
    expect(updated.email).toBe('ada@example.org');
    const renamed = await service.update(created.id, { name: 'Ada L.' });
    expect(renamed).toMatchObject({ email: 'ada@example.org', name: 'Ada L.', version: 3 });
  });
});
