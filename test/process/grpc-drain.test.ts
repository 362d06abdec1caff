import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Health, HealthCheckResponse_ServingStatus as Status } from '../../src/grpc/gen/grpc/health/v1/health_pb.js';
import { ProductService } from '../../src/grpc/gen/productuser/v1/product_service_pb.js';
import { TEST_JWT_SECRET } from '../helpers/app.js';
import { startChildService } from '../helpers/child-service.js';
import { freePort } from '../helpers/database-server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { token } from '../helpers/tokens.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

describe('native gRPC through a SIGTERM', () => {
  it('reports NOT_SERVING on Watch, ends the stream cleanly, serves calls during the delay, and exits 0', async () => {
    const service = await startChildService({
      DATABASE_URL: db.url,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      PORT: String(await freePort()),
      GRPC_PORT: String(await freePort()),
      SHUTDOWN_DELAY_MS: '2000',
      OTEL_SDK_DISABLED: 'true',
    });
    const grpcUrl = String(service.logs.find((line) => line.msg === 'gRPC listening')?.url);
    const transport = createGrpcTransport({ baseUrl: grpcUrl });
    const health = createClient(Health, transport);
    const products = createClient(ProductService, transport);
    const authorization = `Bearer ${await token()}`;

    const seen: Status[] = [];
    let afterDrainStarted: string | undefined;
    const watching = (async () => {
      for await (const response of health.watch({ service: '' })) {
        seen.push(response.status);
        if (response.status === Status.SERVING) service.process.kill('SIGTERM');
        if (response.status === Status.NOT_SERVING) {
          // Still serving while endpoints are removed: a call during SHUTDOWN_DELAY_MS succeeds.
          const page = await products.listProducts({ pageSize: 1 }, { headers: { authorization } });
          afterDrainStarted = `${page.products.length} products`;
        }
      }
    })();
    await watching;
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]);
    expect(afterDrainStarted).toMatch(/products$/);
    expect(await service.exited).toBe(0);
  });
});
