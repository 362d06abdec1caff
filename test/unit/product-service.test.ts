import { describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  IdempotencyKeyReusedError,
  NotFoundError,
  RequestInProgressError,
  VersionMismatchError,
} from '../../src/domain/errors.js';
import {
  productSortValue,
  type Product,
  type ProductFields,
  type ProductFilter,
  type ProductSortField,
} from '../../src/domain/product.js';
import { ProductService, type ProductTransaction } from '../../src/services/product-service.js';
import { InMemoryIdempotencyRecords, InMemoryRepository, inMemoryTransactions } from '../helpers/fakes.js';

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
  const records = new InMemoryIdempotencyRecords<Product>();
  const transaction: ProductTransaction = { products: repository, idempotency: records };
  const service = new ProductService(repository, inMemoryTransactions(transaction, repository, records));
  return { repository, records, service };
}

const sortByName = { field: 'name', direction: 'asc' } as const;
const alice = { caller: 'alice', key: 'k-1' };

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

  it('leaves the rows the repository returned as they were (they may be shared by concurrent callers)', async () => {
    const { service, repository } = products();
    for (const sku of ['a', 'b', 'c']) await service.create(fields(sku, { name: sku }));
    const shared = Object.freeze(await repository.list({ sort: sortByName, after: null, limit: 3, filter: {} }));
    repository.list = () => Promise.resolve(shared);
    const [first, second] = await Promise.all([
      service.list({ sort: sortByName, after: null, limit: 2, filter: {} }),
      service.list({ sort: sortByName, after: null, limit: 2, filter: {} }),
    ]);
    expect(first).toEqual(second);
    expect(first.items.map((p) => p.name)).toEqual(['a', 'b']);
    expect(shared.map((p) => p.name)).toEqual(['a', 'b', 'c']);
  });

  it('updates only when the expected version still matches', async () => {
    const { service } = products();
    const created = await service.create(fields('V-1'));
    const updated = await service.update(created.id, { price: 12 }, { expectedVersion: 1 });
    expect(updated.version).toBe(2);
    expect(updated.price).toBe(12);
    await expect(service.update(created.id, { price: 13 }, { expectedVersion: 1 })).rejects.toBeInstanceOf(
      VersionMismatchError,
    );
    await expect(service.delete(created.id, { expectedVersion: 1 })).rejects.toBeInstanceOf(VersionMismatchError);
    await service.delete(created.id, { expectedVersion: 2 });
    await expect(service.get(created.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('replace writes every field', async () => {
    const { service } = products();
    const created = await service.create(fields('R-1', { description: 'old', currency: 'EUR' }));
    const replaced = await service.replace(created.id, fields('R-2'));
    expect(replaced).toMatchObject({ sku: 'R-2', description: '', currency: 'USD', version: 2 });
  });

  it('lets the repository’s AlreadyExistsError through for a taken key', async () => {
    const { service } = products();
    await service.create(fields('DUP'));
    await expect(service.create(fields('dup'))).rejects.toBeInstanceOf(AlreadyExistsError);
  });
});

describe('product service: create once per idempotency key', () => {
  it('creates on the first request and replays the same product on a retry, creating nothing more', async () => {
    const { service, repository } = products();
    const first = await service.createOnce(alice, fields('I-1'));
    const again = await service.createOnce(alice, fields('I-1'));
    expect(first.replayed).toBe(false);
    expect(again).toEqual({ resource: first.resource, replayed: true });
    expect(repository.rows.size).toBe(1);
  });

  it('keys by caller: the same key from another caller creates again', async () => {
    const { service, repository } = products();
    await service.createOnce(alice, fields('I-2'));
    const bob = await service.createOnce({ caller: 'bob', key: alice.key }, fields('I-3'));
    expect(bob.replayed).toBe(false);
    expect(repository.rows.size).toBe(2);
  });

  it('refuses the key with another request, creating nothing', async () => {
    const { service, repository } = products();
    await service.createOnce(alice, fields('I-4'));
    await expect(service.createOnce(alice, fields('I-5'))).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
    expect(repository.rows.size).toBe(1);
  });

  it('tells a second request to retry while the first with its key is still running', async () => {
    const { service, records } = products();
    records.held.add('alice\nproducts.create\nk-1');
    await expect(service.createOnce(alice, fields('I-6'))).rejects.toBeInstanceOf(RequestInProgressError);
  });

  it('records nothing when the create fails, so a corrected retry with the key works', async () => {
    const { service, records } = products();
    await service.create(fields('TAKEN'));
    await expect(service.createOnce(alice, fields('taken'))).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(records.rows.size).toBe(0);
    expect((await service.createOnce(alice, fields('FREE'))).replayed).toBe(false);
  });
});
