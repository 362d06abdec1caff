import { NotFoundError } from '../domain/errors.js';
import { newId } from '../domain/id.js';
import { toPage, type ListQuery, type Page } from '../domain/page.js';
import {
  productSortValue,
  type Product,
  type ProductFields,
  type ProductFilter,
  type ProductSortField,
} from '../domain/product.js';
import type { Created, IdempotencyRecords, IdempotentRequest } from './idempotency.js';
import type { UnitOfWork } from './unit-of-work.js';
import type { VersionedRepository } from './versioned-repository.js';
import { settle, type WriteCondition } from './write-outcome.js';

export type ProductListQuery = ListQuery<ProductSortField, ProductFilter>;

/** Storage for products. Writes throw AlreadyExistsError when the SKU is taken (ignoring
 * case). */
export type ProductRepository = VersionedRepository<Product, ProductFields, ProductListQuery>;

/** What a product write may use inside one transaction. */
export interface ProductTransaction {
  readonly products: ProductRepository;
  readonly idempotency: IdempotencyRecords<Product>;
}

/** The product use cases: create (once per idempotency key), read, list, update, replace, delete. */
export class ProductService {
  readonly #products: ProductRepository;
  readonly #transactions: UnitOfWork<ProductTransaction>;

  constructor(products: ProductRepository, transactions: UnitOfWork<ProductTransaction>) {
    this.#products = products;
    this.#transactions = transactions;
  }

  async create(fields: ProductFields): Promise<Product> {
    return this.#products.insert(newId(), fields);
  }

  /** A create that a retry with the same key replays instead of repeating. */
  async createOnce(request: IdempotentRequest, fields: ProductFields): Promise<Created<Product>> {
    const key = { ...request, operation: 'products.create', request: JSON.stringify(fields) };
    return this.#transactions.transaction(async ({ products, idempotency }) => {
      const earlier = await idempotency.claim(key);
      if (earlier !== null) return { resource: earlier, replayed: true };
      const product = await products.insert(newId(), fields);
      await idempotency.save(key, product);
      return { resource: product, replayed: false };
    });
  }

  async get(id: string): Promise<Product> {
    const product = await this.#products.findById(id);
    if (product === null) throw new NotFoundError('Product', id);
    return product;
  }

  /** One extra row is fetched: it only proves that a next page exists. */
  async list(query: ProductListQuery, options: { signal?: AbortSignal } = {}): Promise<Page<Product>> {
    const rows = await this.#products.list({ ...query, limit: query.limit + 1 }, options.signal);
    return toPage(rows, query.limit, (product) => productSortValue(product, query.sort.field));
  }

  /** Changes only the given fields (PATCH). */
  async update(id: string, changes: Partial<ProductFields>, condition: WriteCondition = {}): Promise<Product> {
    return settle(await this.#products.update(id, changes, condition.expectedVersion, condition.signal), 'Product', id);
  }

  /** Replaces every client-owned field (PUT). */
  replace(id: string, fields: ProductFields, condition: WriteCondition = {}): Promise<Product> {
    return this.update(id, fields, condition);
  }

  async delete(id: string, condition: WriteCondition = {}): Promise<void> {
    settle(await this.#products.delete(id, condition.expectedVersion, condition.signal), 'Product', id);
  }
}
