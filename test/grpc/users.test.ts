import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadRequestSchema } from '../../src/grpc/gen/google/rpc/error_details_pb.js';
import { UserService } from '../../src/grpc/gen/productuser/v1/user_service_pb.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startRpcServer, type RpcServer } from '../helpers/rpc-server.js';
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

async function rejection(call: Promise<unknown>): Promise<ConnectError> {
  const outcome = await call.then(
    () => null,
    (err: unknown) => ConnectError.from(err),
  );
  if (outcome === null) throw new Error('the call succeeded');
  return outcome;
}

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
