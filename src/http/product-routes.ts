import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ProductService } from '../services/product-service.js';
import { caller } from './auth.js';
import { isNotModified, writeCondition } from './conditional.js';
import { problems } from './openapi.js';
import { TurnCoalescer } from './coalesce.js';
import { cursorScope, sendPage, serializePage, type CursorCodec, type SerializedPage } from './pagination.js';
import {
  presentProduct,
  ProductCreate,
  ProductListQuery,
  ProductPage,
  ProductPatch,
  ProductReplace,
  ProductResponse,
  productSortValuePatterns,
} from './product-schemas.js';
import { created, representation, SerializedBodies } from './representation.js';
import { IdempotencyHeaders, IdParams, NoContent, NotModified } from './schemas.js';

export interface ProductRouteOptions {
  readonly cursors: CursorCodec;
  /** REQUIRE_IF_MATCH: writes to an existing product must say which version they change. */
  readonly requireIfMatch: boolean;
}

const READ = { scope: 'products:read' } as const;
const WRITE = { scope: 'products:write' } as const;
const tags = ['products'];
const WRITE_PROBLEMS = problems(400, 401, 403, 404, 409, 412, 413, 415, 428, 429, 503);

/** /products: create and list; get, update, replace and delete by id. Registered under /api/v1. */
export function productRoutes(products: ProductService, options: ProductRouteOptions): FastifyPluginAsyncZod {
  const { cursors, requireIfMatch } = options;
  // Identical list requests of one event-loop turn share one query and one serialised page.
  const pages = new TurnCoalescer<SerializedPage>();
  // Reads by id served by the near cache send the body serialised for the same object before.
  const bodies = new SerializedBodies(presentProduct);
  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions by contract.
  return async (app) => {
    app.post(
      '/products',
      {
        config: WRITE,
        schema: {
          tags,
          summary: 'Create a product',
          operationId: 'createProduct',
          headers: IdempotencyHeaders,
          body: ProductCreate,
          response: { 201: ProductResponse, ...problems(400, 401, 403, 409, 413, 415, 422, 429, 503) },
        },
      },
      async (request, reply) => {
        const key = request.headers['idempotency-key'];
        const { resource, replayed } =
          key === undefined
            ? { resource: await products.create(request.body), replayed: false }
            : await products.createOnce({ caller: caller(request), key }, request.body);
        const location = `${app.prefix}/products/${resource.id}`;
        return created(reply, location, resource.version, replayed).send(presentProduct(resource));
      },
    );

    app.get(
      '/products',
      {
        config: READ,
        schema: {
          tags,
          summary: 'List products (keyset pagination)',
          operationId: 'listProducts',
          querystring: ProductListQuery,
          response: { 200: ProductPage, ...problems(400, 401, 403, 429, 503) },
        },
      },
      async (request, reply) => {
        // Keyed by the validated query, so that every spelling of one query shares it.
        const page = await pages.share(JSON.stringify(request.query), async () => {
          const { cursor, ...query } = request.query;
          const scope = cursorScope('/products', query.sort, query.filter);
          const after = cursors.decode(scope, cursor, productSortValuePatterns[query.sort.field]);
          const found = await products.list({ ...query, after });
          return serializePage(reply, found.items.map(presentProduct), cursors.encode(scope, found.next));
        });
        return sendPage(reply, request.url, page);
      },
    );

    app.get(
      '/products/:id',
      {
        config: READ,
        schema: {
          tags,
          summary: 'Get a product',
          operationId: 'getProduct',
          params: IdParams,
          response: { 200: ProductResponse, 304: NotModified, ...problems(400, 401, 403, 404, 429, 503) },
        },
      },
      async (request, reply) => {
        const product = await products.get(request.params.id);
        representation(reply, product.version);
        if (isNotModified(request.headers['if-none-match'], product.version)) return reply.code(304).send(null);
        return bodies.send(reply, product);
      },
    );

    app.patch(
      '/products/:id',
      {
        config: WRITE,
        schema: {
          tags,
          summary: 'Change some fields of a product (JSON or JSON Merge Patch)',
          operationId: 'updateProduct',
          params: IdParams,
          body: ProductPatch,
          response: { 200: ProductResponse, ...WRITE_PROBLEMS },
        },
      },
      async (request, reply) => {
        const condition = writeCondition(request, requireIfMatch);
        const product = await products.update(request.params.id, request.body, condition);
        return representation(reply, product.version).send(presentProduct(product));
      },
    );

    app.put(
      '/products/:id',
      {
        config: WRITE,
        schema: {
          tags,
          summary: 'Replace a product',
          operationId: 'replaceProduct',
          params: IdParams,
          body: ProductReplace,
          response: { 200: ProductResponse, ...WRITE_PROBLEMS },
        },
      },
      async (request, reply) => {
        const condition = writeCondition(request, requireIfMatch);
        const product = await products.replace(request.params.id, request.body, condition);
        return representation(reply, product.version).send(presentProduct(product));
      },
    );

    app.delete(
      '/products/:id',
      {
        config: WRITE,
        schema: {
          tags,
          summary: 'Delete a product',
          operationId: 'deleteProduct',
          params: IdParams,
          response: { 204: NoContent, ...problems(400, 401, 403, 404, 412, 428, 429, 503) },
        },
      },
      async (request, reply) => {
        await products.delete(request.params.id, writeCondition(request, requireIfMatch));
        return reply.code(204).send(null);
      },
    );
  };
}
