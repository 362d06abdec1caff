import { z } from 'zod';
import { PRODUCT_DEFAULTS, productSortFields, type Product, type ProductSortField } from '../domain/product.js';
import {
  Cursor,
  Limit,
  multiLine,
  NO_CONTROL_CHARACTERS,
  pageOf,
  SearchText,
  singleLine,
  sortParam,
  Timestamp,
} from './schemas.js';

const Sku = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1–64 characters of A-Z, a-z, 0-9, "-", "_" and "."')
  .describe('Stock keeping unit, unique ignoring case');
const Name = singleLine(1, 200).describe('Trimmed; 1–200 characters');
const Description = multiLine(2000).describe('Up to 2000 characters');
const Price = z
  .number()
  .gt(0, 'must be greater than 0')
  .max(99999999.99, 'must be at most 99999999.99')
  .refine((v) => Number(v.toFixed(2)) === v, 'must have at most 2 decimal places')
  .meta({ multipleOf: 0.01 })
  .describe('Greater than 0, at most 99999999.99, at most 2 decimal places; stored as an exact decimal');
const Currency = z
  .string()
  .regex(/^[A-Z]{3}$/, 'must be a three-letter ISO 4217 code in capitals, e.g. USD')
  .describe('ISO 4217 code');

export const ProductCreate = z
  .strictObject({
    sku: Sku,
    name: Name,
    description: Description.default(PRODUCT_DEFAULTS.description),
    price: Price,
    currency: Currency.default(PRODUCT_DEFAULTS.currency),
  })
  .meta({
    id: 'NewProduct',
    example: { sku: 'MUG-001', name: 'Coffee mug', description: 'Stoneware, 350 ml', price: 12.5, currency: 'EUR' },
  });

/** PUT replaces every client-owned field; omitted optional fields return to their defaults. */
export const ProductReplace = ProductCreate;

/**
 * PATCH, also as JSON Merge Patch (RFC 7396): `null` resets description and currency to
 * their defaults; the required fields cannot be removed.
 */
export const ProductPatch = z
  .strictObject({
    sku: Sku.optional(),
    name: Name.optional(),
    description: Description.nullable().optional(),
    price: Price.optional(),
    currency: Currency.nullable().optional(),
  })
  .refine((patch) => Object.keys(patch).length > 0, 'must contain at least one field')
  .meta({ minProperties: 1 })
  .transform(({ description, currency, ...rest }) => ({
    ...rest,
    ...(description !== undefined && { description: description ?? PRODUCT_DEFAULTS.description }),
    ...(currency !== undefined && { currency: currency ?? PRODUCT_DEFAULTS.currency }),
  }))
  .meta({ id: 'ProductPatch' });

export const ProductResponse = z
  .object({
    id: z.uuid(),
    sku: z.string(),
    name: z.string(),
    description: z.string(),
    price: z.number(),
    currency: z.string(),
    created_at: Timestamp,
    updated_at: Timestamp,
    version: z.number().int().describe('Starts at 1, +1 on every change; the ETag is its quoted value'),
  })
  .meta({ id: 'Product' });

export const ProductPage = pageOf(ProductResponse).meta({ id: 'ProductPage' });

/** A price as decimal text: at most 8 digits before the point and 2 after (query filters, gRPC). */
export const DECIMAL_PRICE = /^\d{1,8}(\.\d{1,2})?$/;

const Decimal = z
  .string()
  .regex(DECIMAL_PRICE, 'must be a decimal number with at most 2 decimal places')
  .transform(Number)
  // A query value is text; the document says which text: a price-like number.
  .meta({ type: 'number', minimum: 0, maximum: 99999999.99, multipleOf: 0.01, pattern: undefined });

export const ProductListQuery = z
  .strictObject({
    limit: Limit,
    cursor: Cursor.optional(),
    sort: sortParam(productSortFields, '-created_at'),
    q: SearchText.optional(),
    sku: Sku.optional().describe('Exact SKU, ignoring case'),
    currency: Currency.optional(),
    min_price: Decimal.optional().describe('Lowest price, inclusive'),
    max_price: Decimal.optional().describe('Highest price, inclusive'),
  })
  .transform(({ limit, cursor, sort, q, sku, currency, min_price, max_price }) => ({
    limit,
    cursor,
    sort,
    filter: { q, sku, currency, minPrice: min_price, maxPrice: max_price },
  }));

/** What a cursor may carry for each sort, checked before it reaches SQL. */
export const productSortValuePatterns: Readonly<Record<ProductSortField, RegExp>> = {
  created_at: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/,
  name: NO_CONTROL_CHARACTERS,
  price: /^\d{1,8}\.\d{2}$/,
};

export function presentProduct(product: Product): z.input<typeof ProductResponse> {
  return {
    id: product.id,
    sku: product.sku,
    name: product.name,
    description: product.description,
    price: product.price,
    currency: product.currency,
    created_at: product.createdAt.toISOString(),
    updated_at: product.updatedAt.toISOString(),
    version: product.version,
  };
}
