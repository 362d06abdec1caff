import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import type { z } from 'zod';
import type { User } from '../domain/user.js';
import { cursorScope, type CursorCodec } from '../http/pagination.js';
import { UserCreate, UserListQuery, UserPatch, userSortValuePatterns } from '../http/user-schemas.js';
import { validate } from '../http/validation.js';
import type { UserService as Users } from '../services/user-service.js';
import { callerOf } from './auth.js';
import { checked } from './errors.js';
import { UserSchema, type User as UserMessage, type UserService } from './gen/productuser/v1/user_service_pb.js';
import { expectedVersion, idFromName, listField, maskedFields, orderBy, pageSize } from './request-fields.js';

const COLLECTION = 'users';
/** The proto field each REST field of a user is, for naming failing fields. */
const FIELD: Readonly<Record<string, string>> = { email: 'email', name: 'display_name' };
const SORT_FIELDS = { create_time: 'created_at', display_name: 'name', email: 'email' } as const;

export function presentUser(user: User): UserMessage {
  return create(UserSchema, {
    name: `${COLLECTION}/${user.id}`,
    email: user.email,
    displayName: user.name,
    createTime: timestampFromDate(user.createdAt),
    updateTime: timestampFromDate(user.updatedAt),
    etag: `"${user.version}"`,
  });
}

/** A user message checked by REST's schema, in REST's shape; `only` (an update mask) limits it. */
function validUser<S extends typeof UserCreate | typeof UserPatch>(
  schema: S,
  message: UserMessage | undefined,
  only?: ReadonlySet<string>,
): z.output<S> {
  const fields: Record<string, unknown> = {};
  if (only === undefined || only.has('email')) fields['email'] = message?.email ?? '';
  if (only === undefined || only.has('display_name')) fields['name'] = message?.displayName ?? '';
  // validate's result is the schema's output; TypeScript cannot follow the union S through it.
  return checked(
    () => validate(schema, fields) as z.output<S>,
    (path) => `user.${FIELD[path] ?? path}`,
  );
}

export function userRpc(users: Users, cursors: CursorCodec): ServiceImpl<typeof UserService> {
  return {
    async getUser(request) {
      return { user: presentUser(await users.get(idFromName(request.name, COLLECTION, 'name'))) };
    },

    async listUsers(request, context) {
      const sort = orderBy(request.orderBy, SORT_FIELDS, 'create_time desc');
      const query = checked(
        () =>
          validate(UserListQuery, {
            limit: String(pageSize(request.pageSize)),
            sort: `${sort.direction === 'desc' ? '-' : ''}${sort.field}`,
            ...(request.query && { q: request.query }),
            ...(request.email && { email: request.email }),
          }),
        listField,
      );
      const scope = cursorScope(`/${COLLECTION}`, query.sort, query.filter);
      const token = request.pageToken === '' ? undefined : request.pageToken;
      const after = checked(() => cursors.decode(scope, token, userSortValuePatterns[query.sort.field]), listField);
      const page = await users.list({ ...query, after }, { signal: context.signal });
      return { users: page.items.map(presentUser), nextPageToken: cursors.encode(scope, page.next) ?? '' };
    },

    async createUser(request, context) {
      const fields = validUser(UserCreate, request.user);
      if (request.requestId === '') return { user: presentUser(await users.create(fields)) };
      const created = await users.createOnce({ caller: callerOf(context), key: request.requestId }, fields);
      return { user: presentUser(created.resource) };
    },

    async updateUser(request, context) {
      const paths = maskedFields(request.updateMask?.paths, Object.values(FIELD));
      const id = idFromName(request.user?.name ?? '', COLLECTION, 'user.name');
      const changes = validUser(UserPatch, request.user, paths);
      const version = expectedVersion(request.user?.etag ?? '', 'user.etag');
      return {
        user: presentUser(await users.update(id, changes, { expectedVersion: version, signal: context.signal })),
      };
    },

    async deleteUser(request, context) {
      const id = idFromName(request.name, COLLECTION, 'name');
      await users.delete(id, {
        expectedVersion: expectedVersion(request.etag, 'etag'),
        signal: context.signal,
      });
      return {};
    },
  };
}
