import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { UserService } from '../services/user-service.js';
import { caller } from './auth.js';
import { isNotModified, writeCondition } from './conditional.js';
import { problems } from './openapi.js';
import { TurnCoalescer } from './coalesce.js';
import { cursorScope, sendPage, serializePage, type CursorCodec, type SerializedPage } from './pagination.js';
import {
  presentUser,
  UserCreate,
  UserListQuery,
  UserPage,
  UserPatch,
  UserReplace,
  UserResponse,
  userSortValuePatterns,
} from './user-schemas.js';
import { created, representation, SerializedBodies } from './representation.js';
import { IdempotencyHeaders, IdParams, NoContent, NotModified } from './schemas.js';

export interface UserRouteOptions {
  readonly cursors: CursorCodec;
  /** REQUIRE_IF_MATCH: writes to an existing user must say which version they change. */
  readonly requireIfMatch: boolean;
}

const READ = { scope: 'users:read' } as const;
const WRITE = { scope: 'users:write' } as const;
const tags = ['users'];
const WRITE_PROBLEMS = problems(400, 401, 403, 404, 409, 412, 413, 415, 428, 429, 503);

/** /users: create and list; get, update, replace and delete by id. Registered under /api/v1. */
export function userRoutes(users: UserService, options: UserRouteOptions): FastifyPluginAsyncZod {
  const { cursors, requireIfMatch } = options;
  // Identical list requests of one event-loop turn share one query and one serialised page.
  const pages = new TurnCoalescer<SerializedPage>();
  // Reads by id served by the near cache send the body serialised for the same object before.
  const bodies = new SerializedBodies(presentUser);
  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions by contract.
  return async (app) => {
    app.post(
      '/users',
      {
        config: WRITE,
        schema: {
          tags,
          summary: 'Create a user',
          operationId: 'createUser',
          headers: IdempotencyHeaders,
          body: UserCreate,
          response: { 201: UserResponse, ...problems(400, 401, 403, 409, 413, 415, 422, 429, 503) },
        },
      },
      async (request, reply) => {
        const key = request.headers['idempotency-key'];
        const { resource, replayed } =
          key === undefined
            ? { resource: await users.create(request.body), replayed: false }
            : await users.createOnce({ caller: caller(request), key }, request.body);
        const location = `${app.prefix}/users/${resource.id}`;
        return created(reply, location, resource.version, replayed).send(presentUser(resource));
      },
    );

    app.get(
      '/users',
      {
        config: READ,
        schema: {
          tags,
          summary: 'List users (keyset pagination)',
          operationId: 'listUsers',
          querystring: UserListQuery,
          response: { 200: UserPage, ...problems(400, 401, 403, 429, 503) },
        },
      },
      async (request, reply) => {
        // Keyed by the validated query, so that every spelling of one query shares it.
        const page = await pages.share(JSON.stringify(request.query), async () => {
          const { cursor, ...query } = request.query;
          const scope = cursorScope('/users', query.sort, query.filter);
          const after = cursors.decode(scope, cursor, userSortValuePatterns[query.sort.field]);
          const found = await users.list({ ...query, after });
          return serializePage(reply, found.items.map(presentUser), cursors.encode(scope, found.next));
        });
        return sendPage(reply, request.url, page);
      },
    );

    app.get(
      '/users/:id',
      {
        config: READ,
        schema: {
          tags,
          summary: 'Get a user',
          operationId: 'getUser',
          params: IdParams,
          response: { 200: UserResponse, 304: NotModified, ...problems(400, 401, 403, 404, 429, 503) },
        },
      },
      async (request, reply) => {
        const user = await users.get(request.params.id);
        representation(reply, user.version);
        if (isNotModified(request.headers['if-none-match'], user.version)) return reply.code(304).send(null);
        return bodies.send(reply, user);
      },
    );

    app.patch(
      '/users/:id',
      {
        config: WRITE,
        schema: {
          tags,
          summary: 'Change some fields of a user (JSON or JSON Merge Patch)',
          operationId: 'updateUser',
          params: IdParams,
          body: UserPatch,
          response: { 200: UserResponse, ...WRITE_PROBLEMS },
        },
      },
      async (request, reply) => {
        const condition = writeCondition(request, requireIfMatch);
        const user = await users.update(request.params.id, request.body, condition);
        return representation(reply, user.version).send(presentUser(user));
      },
    );

    app.put(
      '/users/:id',
      {
        config: WRITE,
        schema: {
          tags,
          summary: 'Replace a user',
          operationId: 'replaceUser',
          params: IdParams,
          body: UserReplace,
          response: { 200: UserResponse, ...WRITE_PROBLEMS },
        },
      },
      async (request, reply) => {
        const condition = writeCondition(request, requireIfMatch);
        const user = await users.replace(request.params.id, request.body, condition);
        return representation(reply, user.version).send(presentUser(user));
      },
    );

    app.delete(
      '/users/:id',
      {
        config: WRITE,
        schema: {
          tags,
          summary: 'Delete a user',
          operationId: 'deleteUser',
          params: IdParams,
          response: { 204: NoContent, ...problems(400, 401, 403, 404, 412, 428, 429, 503) },
        },
      },
      async (request, reply) => {
        await users.delete(request.params.id, writeCondition(request, requireIfMatch));
        return reply.code(204).send(null);
      },
    );
  };
}
