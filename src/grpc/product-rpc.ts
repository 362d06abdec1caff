import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import type { z } from 'zod';
import type { Product } from '../domain/product.js';
import { cursorScope, type CursorCodec } from '../http/pagination.js';
import {
  DECIMAL_PRICE,
  ProductCreate,
  ProductListQuery,
  ProductPatch,
  productSortValuePatterns,
} from '../http/product-schemas.js';
import { RequestValidationError, validate } from '../http/validation.js';
import type { ProductService as Products } from '../services/product-service.js';
import { checked, invalidArgument, violations } from './errors.js';
import {
  ProductSchema,
  type ProductService,
  type Product as ProductMessage,
} from './gen/productuser/v1/product_service_pb.js';
import { callerOf } from './auth.js';
import { expectedVersion, idFromName, listField, maskedFields, orderBy, pageSize } from './request-fields.js';

const COLLECTION = 'products';
/** The proto field each REST field of a product is, for naming failing fields. */
const FIELD: Readonly<Record<string, string>> = {
  sku: 'sku',
  name: 'display_name',
  description: 'description',
  price: 'price',
  currency: 'currency',
};
const SORT_FIELDS = { create_time: 'created_at', display_name: 'name', price: 'price' } as const;

export function presentProduct(product: Product): ProductMessage {
  return create(ProductSchema, {
    name: `${COLLECTION}/${product.id}`,
    sku: product.sku,
    displayName: product.name,
    description: product.description,
    price: product.price.toFixed(2),
    currency: product.currency,
    createTime: timestampFromDate(product.createdAt),
    updateTime: timestampFromDate(product.updatedAt),
    etag: `"${product.version}"`,
  });
}

/**
 * A product message checked by the same rules as a REST body, reporting every failing field
 * at its proto name: the message is put in REST's shape and validated by REST's schema.
 * `only` (an update mask) limits both to the named fields.
 */
function validProduct<S extends typeof ProductCreate | typeof ProductPatch>(
  schema: S,
  message: ProductMessage | undefined,
  only?: ReadonlySet<string>,
): z.output<S> {
  const given = (field: string) => only === undefined || only.has(field);
  const issues: { field: string; description: string }[] = [];
  const fields: Record<string, unknown> = {};
  if (given('sku')) fields['sku'] = message?.sku ?? '';
  if (given('display_name')) fields['name'] = message?.displayName ?? '';
  // proto3 cannot tell an empty string from an unset one: empty means the default, as an
  // omitted field does on REST (on update: null, which resets it).
  const orDefault = (value: string | undefined) => (value ? value : only === undefined ? undefined : null);
  if (given('description')) fields['description'] = orDefault(message?.description);
  if (given('currency')) fields['currency'] = orDefault(message?.currency);
  if (given('price')) {
    const price = message?.price ?? '';
    if (DECIMAL_PRICE.test(price)) fields['price'] = Number(price);
    else issues.push({ field: 'product.price', description: 'must be a decimal with at most 2 decimal places' });
  }
  try {
    // validate's result is the schema's output; TypeScript cannot follow the union S through it.
    const valid = validate(schema, fields) as z.output<S>;
    if (issues.length === 0) return valid;
  } catch (err) {
    if (!(err instanceof RequestValidationError)) throw err;
    // A price that is not a decimal is reported once, by the check above.
    const others = err.issues.filter((issue) => issues.length === 0 || issue.path.join('.') !== 'price');
    issues.unshift(...violations(others, (path) => `product.${FIELD[path] ?? path}`));
  }
  throw invalidArgument(issues);
}

export function productRpc(products: Products, cursors: CursorCodec): ServiceImpl<typeof ProductService> {
  return {
    async getProduct(request) {
      return { product: presentProduct(await products.get(idFromName(request.name, COLLECTION, 'name'))) };
    },

    async listProducts(request, context) {
      const sort = orderBy(request.orderBy, SORT_FIELDS, 'create_time desc');
      const query = checked(
        () =>
          validate(ProductListQuery, {
            limit: String(pageSize(request.pageSize)),
            sort: `${sort.direction === 'desc' ? '-' : ''}${sort.field}`,
            ...(request.query && { q: request.query }),
            ...(request.sku && { sku: request.sku }),
            ...(request.currency && { currency: request.currency }),
            ...(request.minPrice && { min_price: request.minPrice }),
            ...(request.maxPrice && { max_price: request.maxPrice }),
          }),
        listField,
      );
      const scope = cursorScope(`/${COLLECTION}`, query.sort, query.filter);
      const token = request.pageToken === '' ? undefined : request.pageToken;
      const after = checked(() => cursors.decode(scope, token, productSortValuePatterns[query.sort.field]), listField);
      const page = await products.list({ ...query, after }, { signal: context.signal });
      return { products: page.items.map(presentProduct), nextPageToken: cursors.encode(scope, page.next) ?? '' };
    },

    async createProduct(request, context) {
      const fields = validProduct(ProductCreate, request.product);
      if (request.requestId === '') return { product: presentProduct(await products.create(fields)) };
      const created = await products.createOnce({ caller: callerOf(context), key: request.requestId }, fields);
      return { product: presentProduct(created.resource) };
    },

    async updateProduct(request, context) {
      const paths = maskedFields(request.updateMask?.paths, Object.values(FIELD));
      const id = idFromName(request.product?.name ?? '', COLLECTION, 'product.name');
      const changes = validProduct(ProductPatch, request.product, paths);
      const version = expectedVersion(request.product?.etag ?? '', 'product.etag');
      return {
        product: presentProduct(
          await products.update(id, changes, { expectedVersion: version, signal: context.signal }),
        ),
      };
    },

    async deleteProduct(request, context) {
      const id = idFromName(request.name, COLLECTION, 'name');
      await products.delete(id, {
        expectedVersion: expectedVersion(request.etag, 'etag'),
        signal: context.signal,
      });
      return {};
    },
  };
}
