import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadRequestSchema } from '../../src/grpc/gen/google/rpc/error_details_pb.js';
import { UserService } from '../../src/grpc/gen/productuser/v1/user_service_pb.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { rejection, startRpcServer, type RpcServer } from '../helpers/rpc-server.js';
import { token } from '../helpers/tokens.js';

let db: TestDatabase;
let server: RpcServer;
let authorization: string;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startRpcServer(db);
  authorization = `Bearer ${await token()}`;
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

let sequence = 0;
const uniqueEmail = () => `rpc-${Date.now()}-${sequence++}@example.com`;

describe.each([
  ['Connect over HTTP/1.1', () => createConnectTransport({ baseUrl: server.restUrl, httpVersion: '1.1' })],
  ['gRPC over HTTP/2', () => createGrpcTransport({ baseUrl: server.grpcUrl })],
] as const)('UserService, %s', (_name, transport) => {
  let client: Client<typeof UserService>;
  beforeAll(() => {
    client = createClient(UserService, transport());
  });

  it('creates (lower-casing the email), gets, updates, lists and deletes', async () => {
    const email = uniqueEmail();
    const headers = { authorization };
    const { user } = await client.createUser({ user: { email: email.toUpperCase(), displayName: 'Ada' } }, { headers });
    expect(user).toMatchObject({ email, displayName: 'Ada', etag: '"1"' });
    const name = user?.name ?? '';
    expect((await client.getUser({ name }, { headers })).user?.email).toBe(email);
    const updated = await client.updateUser(
      { user: { name, displayName: 'Ada L.', etag: '"1"' }, updateMask: { paths: ['display_name'] } },
      { headers },
    );
    expect(updated.user).toMatchObject({ displayName: 'Ada L.', email, etag: '"2"' });
    expect((await client.listUsers({ email }, { headers })).users.map((u) => u.name)).toEqual([name]);
    const stale = await rejection(client.deleteUser({ name, etag: '"1"' }, { headers }));
    expect(stale.code).toBe(Code.Aborted);
    await client.deleteUser({ name }, { headers });
    expect((await rejection(client.getUser({ name }, { headers }))).code).toBe(Code.NotFound);
  });

  it('names every invalid field, refuses a taken email, and checks scopes', async () => {
    const invalid = await rejection(
      client.createUser({ user: { email: 'not-an-address', displayName: 'A' } }, { headers: { authorization } }),
    );
    expect(invalid.code).toBe(Code.InvalidArgument);
    expect(
      invalid
        .findDetails(BadRequestSchema)[0]
        ?.fieldViolations.map((v) => v.field)
        .sort(),
    ).toEqual(['user.display_name', 'user.email']);
    const email = uniqueEmail();
    await client.createUser({ user: { email, displayName: 'First' } }, { headers: { authorization } });
    const taken = await rejection(
      client.createUser(
        { user: { email: email.toUpperCase(), displayName: 'Second' } },
        { headers: { authorization } },
      ),
    );
    expect(taken.code).toBe(Code.AlreadyExists);
    const productsOnly = `Bearer ${await token({ scopes: ['products:write'] })}`;
    const denied = await rejection(client.listUsers({}, { headers: { authorization: productsOnly } }));
    expect(denied.code).toBe(Code.PermissionDenied);
    expect((await rejection(client.listUsers({}, {}))).code).toBe(Code.Unauthenticated);
  });
});

describe('UserService authorization, every RPC', () => {
  it('refuses each RPC without a token, with a bad token, with another scope; writes with :read', async () => {
    const client = createClient(UserService, createGrpcTransport({ baseUrl: server.grpcUrl }));
    const readOnly = `Bearer ${await token({ scopes: ['users:read'] })}`;
    const otherResource = `Bearer ${await token({ scopes: ['products:write'] })}`;
    const name = 'users/01890000-0000-7000-8000-000000000000';
    const calls: [string, boolean, (options: { headers: Record<string, string> }) => Promise<unknown>][] = [
      ['get', false, (o) => client.getUser({ name }, o)],
      ['list', false, (o) => client.listUsers({}, o)],
      ['create', true, (o) => client.createUser({ user: { email: uniqueEmail(), displayName: 'Ab' } }, o)],
      [
        'update',
        true,
        (o) => client.updateUser({ user: { name, displayName: 'Cd' }, updateMask: { paths: ['display_name'] } }, o),
      ],
      ['delete', true, (o) => client.deleteUser({ name }, o)],
    ];
    const codeOf = (call: Promise<unknown>) =>
      call.then(
        () => null,
        (err: unknown) => ConnectError.from(err).code,
      );
    for (const [rpc, write, call] of calls) {
      expect(await codeOf(call({ headers: {} })), rpc).toBe(Code.Unauthenticated);
      expect(await codeOf(call({ headers: { authorization: 'Bearer x.y.z' } })), rpc).toBe(Code.Unauthenticated);
      expect(await codeOf(call({ headers: { authorization: otherResource } })), rpc).toBe(Code.PermissionDenied);
      const withRead = await codeOf(call({ headers: { authorization: readOnly } }));
      if (write) expect(withRead, rpc).toBe(Code.PermissionDenied);
      else expect([null, Code.NotFound], rpc).toContain(withRead);
      expect([null, Code.NotFound], rpc).toContain(await codeOf(call({ headers: { authorization } })));
    }
  });

  it('refuses a message larger than BODY_LIMIT_BYTES with RESOURCE_EXHAUSTED, and writes nothing', async () => {
    const client = createClient(UserService, createGrpcTransport({ baseUrl: server.grpcUrl }));
    const email = uniqueEmail();
    const code = await client
      .createUser({ user: { email, displayName: 'x'.repeat(200_000) } }, { headers: { authorization } })
      .then(
        () => null,
        (err: unknown) => ConnectError.from(err).code,
      );
    expect(code).toBe(Code.ResourceExhausted);
    const found = await client.listUsers({ email }, { headers: { authorization } });
    expect(found.users).toEqual([]);
  });
});
