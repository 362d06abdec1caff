import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetryInfoSchema } from '../../src/grpc/gen/google/rpc/error_details_pb.js';
import { Health, HealthCheckResponse_ServingStatus as Status } from '../../src/grpc/gen/grpc/health/v1/health_pb.js';
import { ProductService } from '../../src/grpc/gen/productuser/v1/product_service_pb.js';
import { createPool } from '../../src/postgres/pool.js';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/database-server.js';
import { startRpcServer, type RpcServer } from '../helpers/rpc-server.js';
import { token } from '../helpers/tokens.js';

let db: TestDatabase;
let server: RpcServer;
let deadPool: ReturnType<typeof createPool>;

beforeAll(async () => {
  db = await createTestDatabase();
  const dead = new URL(db.url);
  dead.port = String(await freePort());
  deadPool = createPool(
    {
      url: dead.toString(),
      poolMax: 2,
      statementTimeoutMs: 1000,
      connectTimeoutMs: 500,
      acquireTimeoutMs: 1000,
      idleTimeoutMs: 1000,
    },
    silentLogger,
  );
  server = await startRpcServer({ url: dead.toString(), pool: deadPool }, { DB_CONNECT_TIMEOUT_MS: '500' });
});
afterAll(async () => {
  await server.close();
  await deadPool.end();
  await db.drop();
});

describe('with the database unreachable', () => {
  it('answers UNAVAILABLE with google.rpc.RetryInfo, and the health service NOT_SERVING', async () => {
    const transport = createGrpcTransport({ baseUrl: server.grpcUrl });
    const products = createClient(ProductService, transport);
    const headers = { authorization: `Bearer ${await token()}` };
    for (let i = 0; i < 3; i++) {
      const error = await products
        .getProduct({ name: 'products/01890000-0000-7000-8000-000000000000' }, { headers })
        .then(
          () => null,
          (err: unknown) => ConnectError.from(err),
        );
      expect(error?.code).toBe(Code.Unavailable);
      expect(Number(error?.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds)).toBeGreaterThanOrEqual(1);
      expect(error?.rawMessage).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|terminated/);
    }
    const health = createClient(Health, transport);
    expect((await health.check({ service: '' })).status).toBe(Status.NOT_SERVING);
  });
});
