import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import type { Page, Sort } from '../domain/page.js';
import type { IdempotencyStore, RecordedResponse } from '../services/idempotency.js';
import type { ResourceService, WriteCondition } from '../services/resource-service.js';
import { hasScope, insufficientScope, type Authenticator, type Principal, type Scope } from './auth.js';
import { etagOf, isNotModified, requiredVersion } from './conditional.js';
import { HttpProblem } from './error-handler.js';
import { nextPageLink, type CursorCodec } from './pagination.js';
import { problems } from './openapi.js';
import { IdempotencyHeaders, IdParams, NoContent, NotModified } from './schemas.js';

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
  /** OpenAPI tag grouping the resource's operations. */
  readonly tag: string;
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
  readonly scopes: { readonly read: Scope; readonly write: Scope };
}

export interface RouteSettings {
  readonly cursors: CursorCodec;
  readonly authenticator: Authenticator;
  readonly idempotency: IdempotencyStore;
  /** REQUIRE_IF_MATCH: writes to an existing resource must say which version they change. */
  readonly requireIfMatch: boolean;
}

/** The validated body, hashed: the same Idempotency-Key must come with the same request. */
function fingerprint(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('base64url');
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

/** Lets an authenticated caller in if it holds the route's scope (a 403 problem otherwise). */
function admit(request: FastifyRequest, principal: Principal, done: (error?: Error) => void): void {
  const required = request.routeOptions.config.scope;
  if (required !== undefined && !hasScope(principal, required)) {
    done(insufficientScope(required));
    return;
  }
  request.principal = principal;
  done();
}

/** Routes for one resource: POST, GET list, GET/PATCH/PUT/DELETE by id. */
export function resourceRoutes<T extends { id: string; version: number }, Fields, SortField extends string, Filter>(
  resource: ResourceHttp<T, Fields, SortField, Filter>,
  settings: RouteSettings,
): FastifyPluginAsyncZod {
  const { path, service, schemas, present, scopes, tag } = resource;
  const noun = path.slice(1, -1); // "/products" → "product"
  const Noun = noun.charAt(0).toUpperCase() + noun.slice(1);
  const doc = (verb: string, summary: string) => ({
    tags: [tag],
    summary,
    operationId: `${verb}${Noun}${verb === 'list' ? 's' : ''}`,
  });
  // Inside this generic function the type provider cannot prove that a body typed by
  // `z.ZodType<Fields>` is a `Fields`, hence the `as` on request bodies below. The real
  // check happens where a resource is declared: its schemas must output its domain fields.

  const writeCondition = (request: FastifyRequest): WriteCondition => {
    const ifMatch = request.headers['if-match'];
    if (ifMatch === undefined && settings.requireIfMatch) {
      throw new HttpProblem(
        428,
        'precondition-required',
        'Precondition required',
        'Send If-Match with the ETag of the version you are changing',
      );
    }
    return { expectedVersion: requiredVersion(ifMatch) };
  };

  /** The `Link` last built for a shared page, with the request URL it was built from. */
  interface PresentedPage {
    readonly next: string | null;
    readonly body: string;
    link?: { readonly url: string; readonly header: string };
  }
  const presentedPages = new WeakMap<Page<T>, PresentedPage>();
  const read = { scope: scopes.read };
  const write = { scope: scopes.write };

  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions by contract.
  return async (app) => {
    // Authentication and scope come first (onRequest): a caller without the right token
    // learns nothing about bodies, validation rules or whether an id exists.
    // Callback style: a remembered token is admitted without a promise (see auth.ts).
    app.addHook('onRequest', (request, _reply, done) => {
      const recalled = settings.authenticator.recall(request.headers.authorization);
      if (recalled !== undefined) admit(request, recalled, done);
      else
        settings.authenticator
          .authenticate(request.headers.authorization)
          .then((principal) => admit(request, principal, done), done);
    });

    app.post(
      path,
      {
        config: write,
        schema: {
          ...doc('create', `Create a ${noun}`),
          headers: IdempotencyHeaders,
          body: schemas.create,
          response: { 201: schemas.item, ...problems(400, 401, 403, 409, 413, 415, 422, 429, 503) },
        },
      },
      async (request, reply) => {
        const create = async (): Promise<RecordedResponse> => {
          const item = await service.create(request.body as Fields);
          const headers = { location: `${app.prefix}${path}/${item.id}`, etag: etagOf(item.version) };
          // The serializer compiler (validation.ts) always produces a string.
          return { statusCode: 201, headers, body: reply.code(201).serialize(present(item)) as string };
        };
        const key = request.headers['idempotency-key'];
        const { response, replayed } =
          key === undefined
            ? { response: await create(), replayed: false }
            : await settings.idempotency.once(
                {
                  caller: request.principal?.subject ?? 'anonymous',
                  route: `POST ${app.prefix}${path}`,
                  key,
                  fingerprint: fingerprint(request.body),
                },
                create,
              );
        if (replayed) reply.header('idempotent-replayed', 'true');
        addVary(reply, 'Authorization');
        // Only successful creates are recorded, so a replayed status is a 201 too.
        return reply
          .code(response.statusCode as 201)
          .headers(response.headers)
          .header('cache-control', 'private, no-cache')
          .type('application/json; charset=utf-8')
          .send(response.body);
      },
    );

    app.get(
      path,
      {
        config: read,
        schema: {
          ...doc('list', `List ${noun}s (keyset pagination)`),
          querystring: schemas.list,
          response: { 200: schemas.page, ...problems(400, 401, 403, 429, 503) },
        },
      },
      async (request, reply) => {
        const { cursor, ...query } = request.query;
        // A cursor is bound to the resource, sort and filters it was issued for.
        const scope = `${path}\n${JSON.stringify([query.sort, query.filter])}`;
        const isValidValue = (value: string) => resource.sortValuePatterns[query.sort.field].test(value);
        const after = cursor === undefined ? null : settings.cursors.decode(scope, cursor, isValidValue);
        const page = await service.list({ ...query, after });
        // A page shared by identical concurrent queries (same scope, hence the same cursor) is
        // presented and serialised once for all of them.
        let shared = presentedPages.get(page);
        if (shared === undefined) {
          const next = page.next === null ? null : settings.cursors.encode(scope, page.next);
          // The serializer compiler (validation.ts) always produces a string.
          shared = { next, body: reply.serialize({ items: page.items.map(present), next_cursor: next }) as string };
          presentedPages.set(page, shared);
        }
        if (shared.next !== null) {
          // Callers sharing a page almost always sent the same URL: URL parsing and
          // re-serialising the query were ~2.5 % of a deep-page request's CPU.
          if (shared.link?.url !== request.url)
            shared.link = { url: request.url, header: nextPageLink(request.url, shared.next) };
          reply.header('link', shared.link.header);
        }
        addVary(reply, 'Authorization');
        return reply
          .header('cache-control', 'private, no-cache')
          .type('application/json; charset=utf-8')
          .send(shared.body);
      },
    );

    app.get(
      `${path}/:id`,
      {
        config: read,
        schema: {
          ...doc('get', `Get a ${noun}`),
          params: IdParams,
          response: { 200: schemas.item, 304: NotModified, ...problems(400, 401, 403, 404, 429, 503) },
        },
      },
      async (request, reply) => {
        const item = await service.get(request.params.id);
        withRepresentationHeaders(reply, item.version);
        if (isNotModified(request.headers['if-none-match'], item.version)) return reply.code(304).send(null);
        return reply.send(present(item));
      },
    );

    app.patch(
      `${path}/:id`,
      {
        config: write,
        schema: {
          ...doc('update', `Change some fields of a ${noun} (JSON or JSON Merge Patch)`),
          params: IdParams,
          body: schemas.patch,
          response: { 200: schemas.item, ...problems(400, 401, 403, 404, 409, 412, 413, 415, 428, 429, 503) },
        },
      },
      async (request, reply) => {
        const item = await service.update(request.params.id, request.body as Partial<Fields>, writeCondition(request));
        return withRepresentationHeaders(reply, item.version).send(present(item));
      },
    );

    app.put(
      `${path}/:id`,
      {
        config: write,
        schema: {
          ...doc('replace', `Replace a ${noun}`),
          params: IdParams,
          body: schemas.replace,
          response: { 200: schemas.item, ...problems(400, 401, 403, 404, 409, 412, 413, 415, 428, 429, 503) },
        },
      },
      async (request, reply) => {
        const item = await service.replace(request.params.id, request.body as Fields, writeCondition(request));
        return withRepresentationHeaders(reply, item.version).send(present(item));
      },
    );

    app.delete(
      `${path}/:id`,
      {
        config: write,
        schema: {
          ...doc('delete', `Delete a ${noun}`),
          params: IdParams,
          response: { 204: NoContent, ...problems(400, 401, 403, 404, 412, 428, 429, 503) },
        },
      },
      async (request, reply) => {
        await service.delete(request.params.id, writeCondition(request));
        return reply.code(204).send(null);
      },
    );
  };
}
