import type pg from 'pg';
import type { Product } from '../domain/product.js';
import type { ProductRepository } from '../services/product-service.js';
import type { DatabaseGate } from './gate.js';
import { containsPattern, TableRepository } from './table-repository.js';

export function createProductRepository(pool: pg.Pool, gate: DatabaseGate): ProductRepository {
  return new TableRepository(pool, gate, {
    table: 'products',
    writable: ['sku', 'name', 'description', 'price', 'currency'],
    columnTypes: { sku: 'text', name: 'text', description: 'text', price: 'numeric', currency: 'text' },
    // toFixed(2) turns the validated number into the exact decimal text NUMERIC stores.
    toParam: (field, value) => (field === 'price' ? (value as number).toFixed(2) : value),
    selectList: 'id, sku, name, description, price, currency, created_at, updated_at, version',
    fromRow: toProduct,
    sortColumns: {
      created_at: { column: 'created_at', type: 'timestamptz' },
      name: { column: 'name', type: 'text' },
      price: { column: 'price', type: 'numeric' },
    },
    filterConditions: (filter, params) => {
      const conditions: string[] = [];
      const add = (sql: (placeholder: string) => string, value: unknown) => {
        params.push(value);
        conditions.push(sql(`$${params.length}`));
      };
      if (filter.q !== undefined) add((p) => `name ILIKE ${p}`, containsPattern(filter.q));
      if (filter.sku !== undefined) add((p) => `lower(sku) = lower(${p})`, filter.sku);
      if (filter.currency !== undefined) add((p) => `currency = ${p}`, filter.currency);
      if (filter.minPrice !== undefined) add((p) => `price >= ${p}::numeric`, filter.minPrice.toFixed(2));
      if (filter.maxPrice !== undefined) add((p) => `price <= ${p}::numeric`, filter.maxPrice.toFixed(2));
      return conditions;
    },
    uniqueConstraints: {
      products_sku_lower_key: {
        field: 'sku',
        message: 'A product with this SKU already exists (SKUs are unique ignoring case)',
      },
    },
  });
}

function toProduct(row: Record<string, unknown>): Product {
  return {
    id: row.id as string,
    sku: row.sku as string,
    name: row.name as string,
    description: row.description as string,
    // NUMERIC arrives as text ("19.99"); a value with two decimals below 1e8 converts to
    // the double nearest to it, which prints back as the same two decimals.
    price: Number(row.price),
    currency: row.currency as string,
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
    version: row.version as number,
  };
}
