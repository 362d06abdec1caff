import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturingLogger } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startRpcServer, type RpcServer } from '../helpers/rpc-server.js';
import { token } from '../helpers/tokens.js';

const run = promisify(execFile);
let db: TestDatabase;
let server: RpcServer;
const logs = capturingLogger();

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startRpcServer(db, {}, undefined, logs.logger);
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

/** `buf curl` (from the @bufbuild/buf package), speaking native gRPC, with no schema but what reflection gives it. */
async function bufCurl(...args: string[]): Promise<string> {
  const { stdout } = await run('node_modules/.bin/buf', [
    'curl',
    '--protocol',
    'grpc',
    '--http2-prior-knowledge',
    ...args,
  ]);
  return stdout;
}

describe('server reflection on GRPC_PORT', () => {
  it('lists every service and method to a client that has no .proto file', async () => {
    const methods = (await bufCurl('--list-methods', server.grpcUrl)).trim().split('\n');
    expect(methods).toEqual(
      expect.arrayContaining([
        'grpc.health.v1.Health/Check',
        'productuser.v1.ProductService/CreateProduct',
        'productuser.v1.ProductService/GetProduct',
        'productuser.v1.UserService/ListUsers',
      ]),
    );
    expect(methods).toHaveLength(12);
  });

  it('logs and counts its calls as every other call on the port', async () => {
    await bufCurl('--reflect-header', 'x-request-id: reflect-1', '--list-services', server.grpcUrl);
    const lines = logs.lines.filter((l) => l.request_id === 'reflect-1');
    expect(lines).toEqual([
      expect.objectContaining({
        msg: 'call completed',
        rpc: expect.stringMatching(/^\/grpc\.reflection\.v1(alpha)?\.ServerReflection\/ServerReflectionInfo$/),
        code: 'OK',
        trace_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      }),
    ]);
    const metrics = await (await fetch(`${server.restUrl}/metrics`)).text();
    const labels =
      'grpc_service="grpc\\.reflection\\.v1(alpha)?\\.ServerReflection",grpc_method="ServerReflectionInfo"';
    expect(metrics).toMatch(new RegExp(`^grpc_server_handled_total\\{${labels},grpc_code="OK"\\} [1-9]`, 'm'));
  });

  it('lets such a client call an RPC, encoding and decoding with the reflected descriptors', async () => {
    const authorization = `authorization: Bearer ${await token()}`;
    const sku = `REFLECT-${Date.now()}`;
    const created = JSON.parse(
      await bufCurl(
        '-H',
        authorization,
        '-d',
        JSON.stringify({ product: { sku, displayName: 'Reflected', price: '9.99' } }),
        `${server.grpcUrl}/productuser.v1.ProductService/CreateProduct`,
      ),
    ) as { product: { name: string; sku: string; price: string; etag: string } };
    expect(created.product).toMatchObject({ sku, price: '9.99', etag: '"1"' });
    const got = JSON.parse(
      await bufCurl(
        '-H',
        authorization,
        '-d',
        JSON.stringify({ name: created.product.name }),
        `${server.grpcUrl}/productuser.v1.ProductService/GetProduct`,
      ),
    ) as { product: { name: string } };
    expect(got.product.name).toBe(created.product.name);
  });
});
