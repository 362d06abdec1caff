import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import type { Sort } from '../domain/page.js';
import type { ResourceService, WriteCondition } from '../services/resource-service.js';
import { etagOf, isNotModified, requiredVersion } from './conditional.js';
import { HttpProblem } from './error-handler.js';
import { nextPageLink, type CursorCodec } from './pagination.js';
import { IdParams, NotModified } from './schemas.js';

export interface ListParams<SortField extends string, Filter> {
  readonly limit: number;
  readonly cursor?: string | undefined;
  readonly sort: Sort<SortField>;
  readonly filter: Filter;
}

/** How one resource maps onto HTTP; see product-schemas.ts and user-schemas.ts. */
export interface ResourceHttp<T extends { id: string; version: number }, Fields, SortField extends string, Filter> {
  /** Path under the API prefix, e.g. "/products". */
  readonly path: string;
  readonly service: ResourceService<T, Fields, SortField, Filter>;
  readonly schemas: {
    readonly create: z.ZodType<Fields, unknown>;
    readonly replace: z.ZodType<Fields, unknown>;
    readonly patch: z.ZodType<Partial<Fields>, unknown>;
    readonly list: z.ZodType<ListParams<SortField, Filter>, unknown>;
    readonly item: z.ZodType;
    readonly page: z.ZodType;
  };
  readonly present: (item: T) => unknown;
  readonly sortValuePatterns: Readonly<Record<SortField, RegExp>>;
}

export interface RouteSettings {
  readonly cursors: CursorCodec;
  /** REQUIRE_IF_MATCH: writes to an existing resource must say which version they change. */
  readonly requireIfMatch: boolean;
}

/** Adds a token to Vary without dropping what other hooks (CORS) put there. */
function addVary(reply: FastifyReply, token: string): void {
  const current = reply.getHeader('vary');
  reply.header('vary', current === undefined ? token : `${String(current)}, ${token}`);
}

function withRepresentationHeaders(reply: FastifyReply, version: number): FastifyReply {
  addVary(reply, 'Authorization');
  return reply.header('etag', etagOf(version)).header('cache-control', 'private, no-cache');
}

/** Routes for one resource: POST, GET list, GET/PATCH/PUT/DELETE by id. */
export function resourceRoutes<T extends { id: string; version: number }, Fields, SortField extends string, Filter>(
  resource: ResourceHttp<T, Fields, SortField, Filter>,
  settings: RouteSettings,
): FastifyPluginAsyncZod {
  const { path, service, schemas, present } = resource;
  // Inside this generic function the type provider cannot prove that a body typed by
  // `z.ZodType<Fields>` is a `Fields`, hence the `as` on request bodies below. The real
  // check happens where a resource is declared: its schemas must output its domain fields.

  const writeCondition = (request: FastifyRequest): WriteCondition => {
    const ifMatch = request.headers['if-match'];
    if (ifMatch === undefined && settings.requireIfMatch) {
      throw new HttpProblem(428, 'precondition-required', 'Precondition required', 'Send If-Match with the ETag of the version you are changing');
    }
    return { expectedVersion: requiredVersion(ifMatch) };
  };

  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions by contract.
  return async (app) => {
    app.post(path, { schema: { body: schemas.create, response: { 201: schemas.item } } }, async (request, reply) => {
      const item = await service.create(request.body as Fields);
      reply.header('location', `${app.prefix}${path}/${item.id}`);
      return withRepresentationHeaders(reply, item.version).code(201).send(present(item));
    });

    app.get(path, { schema: { querystring: schemas.list, response: { 200: schemas.page } } }, async (request, reply) => {
      const { cursor, ...query } = request.query;
      // A cursor is bound to the resource, sort and filters it was issued for.
      const scope = `${path}\n${JSON.stringify([query.sort, query.filter])}`;
      const isValidValue = (value: string) => resource.sortValuePatterns[query.sort.field].test(value);
      const after = cursor === undefined ? null : settings.cursors.decode(scope, cursor, isValidValue);
      const page = await service.list({ ...query, after });
      const next = page.next === null ? null : settings.cursors.encode(scope, page.next);
      if (next !== null) reply.header('link', nextPageLink(request.url, next));
      addVary(reply, 'Authorization');
      return reply.header('cache-control', 'private, no-cache').send({ items: page.items.map(present), next_cursor: next });
    });

    app.get(`${path}/:id`, { schema: { params: IdParams, response: { 200: schemas.item, 304: NotModified } } }, async (request, reply) => {
      const item = await service.get(request.params.id);
      withRepresentationHeaders(reply, item.version);
      if (isNotModified(request.headers['if-none-match'], item.version)) return reply.code(304).send(null);
      return reply.send(present(item));
    });

    app.patch(`${path}/:id`, { schema: { params: IdParams, body: schemas.patch, response: { 200: schemas.item } } }, async (request, reply) => {
      const item = await service.update(request.params.id, request.body as Partial<Fields>, writeCondition(request));
      return withRepresentationHeaders(reply, item.version).send(present(item));
    });

    app.put(`${path}/:id`, { schema: { params: IdParams, body: schemas.replace, response: { 200: schemas.item } } }, async (request, reply) => {
      const item = await service.replace(request.params.id, request.body as Fields, writeCondition(request));
      return withRepresentationHeaders(reply, item.version).send(present(item));
    });

    app.delete(`${path}/:id`, { schema: { params: IdParams } }, async (request, reply) => {
      await service.delete(request.params.id, writeCondition(request));
      return reply.code(204).send();
    });
  };
}
