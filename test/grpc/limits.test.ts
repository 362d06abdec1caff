import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProductService } from '../../src/grpc/gen/productuser/v1/product_service_pb.js';
import { capturingLogger } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startRpcServer, type RpcServer } from '../helpers/rpc-server.js';
import { token } from '../helpers/tokens.js';

let db: TestDatabase;
let server: RpcServer;
const logs = capturingLogger();

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startRpcServer(db, { RATE_LIMIT_MAX: '5', RATE_LIMIT_WINDOW_MS: '60000' }, undefined, logs.logger);
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

const missing = 'products/01890000-0000-7000-8000-000000000000';

describe('native gRPC calls', () => {
  it('are logged once each with request and trace ids, and counted on /metrics by method and code', async () => {
    const client = createClient(ProductService, createGrpcTransport({ baseUrl: server.grpcUrl }));
    const headers = { authorization: `Bearer ${await token({ subject: 'observed' })}`, 'x-request-id': 'rpc-log-1' };
    const code = await client.getProduct({ name: missing }, { headers }).then(
      () => null,
      (err: unknown) => ConnectError.from(err).code,
    );
    expect(code).toBe(Code.NotFound);
    const lines = logs.lines.filter((l) => l.request_id === 'rpc-log-1');
    expect(lines).toEqual([
      expect.objectContaining({
        msg: 'call completed',
        rpc: '/productuser.v1.ProductService/GetProduct',
        code: 'NotFound',
        trace_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      }),
    ]);
    const metrics = await (await fetch(`${server.restUrl}/metrics`)).text();
    const labels = 'grpc_service="productuser.v1.ProductService",grpc_method="GetProduct",grpc_code="NotFound"';
    expect(metrics).toContain(`grpc_server_handled_total{${labels}} 1`);
  });

  it('share the caller’s rate limit with REST: RESOURCE_EXHAUSTED past it, other callers unaffected', async () => {
    const client = createClient(ProductService, createGrpcTransport({ baseUrl: server.grpcUrl }));
    const authorization = `Bearer ${await token({ subject: 'limited' })}`;
    const rest = await server.app.inject({ method: 'GET', url: '/api/v1/products', headers: { authorization } });
    expect(rest.statusCode).toBe(200);
    const codes: (Code | null)[] = [];
    for (let i = 0; i < 6; i++) {
      codes.push(
        await client.listProducts({}, { headers: { authorization } }).then(
          () => null,
          (err: unknown) => ConnectError.from(err).code,
        ),
      );
    }
    // One REST request and four calls use up the five; the fifth and sixth calls are refused.
    expect(codes).toEqual([null, null, null, null, Code.ResourceExhausted, Code.ResourceExhausted]);
    const other = await client.listProducts(
      {},
      { headers: { authorization: `Bearer ${await token({ subject: 'other' })}` } },
    );
    expect(other.products).toBeInstanceOf(Array);
  });
});
