import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Health, HealthCheckResponse_ServingStatus as Status } from '../../src/grpc/gen/grpc/health/v1/health_pb.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startRpcServer, type RpcServer } from '../helpers/rpc-server.js';

let db: TestDatabase;
let server: RpcServer;
let accepting = true;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startRpcServer(db, {}, () => accepting);
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

describe('grpc.health.v1.Health', () => {
  it('answers Check without a token: SERVING for the server and each service, NOT_FOUND for others', async () => {
    const client = createClient(Health, createGrpcTransport({ baseUrl: server.grpcUrl }));
    for (const service of ['', 'productuser.v1.ProductService', 'productuser.v1.UserService']) {
      expect((await client.check({ service })).status, service).toBe(Status.SERVING);
    }
    const unknown = await client.check({ service: 'nope.v1.Nope' }).then(
      () => null,
      (err: unknown) => ConnectError.from(err).code,
    );
    expect(unknown).toBe(Code.NotFound);
  });

  it('answers a raw grpc-js call, as the kubelet’s grpc probe makes it', async () => {
    const client = new grpc.Client(server.grpcUrl.replace('http://', ''), grpc.credentials.createInsecure());
    try {
      const response = await new Promise<Buffer>((resolve, reject) =>
        client.makeUnaryRequest(
          '/grpc.health.v1.Health/Check',
          (request: Buffer) => request,
          (bytes: Buffer) => bytes,
          Buffer.alloc(0),
          (err, value) => (err || value === undefined ? reject(err ?? new Error('no value')) : resolve(value)),
        ),
      );
      // HealthCheckResponse { status: SERVING (1) }: field 1, varint 1.
      expect([...response]).toEqual([0x08, 0x01]);
    } finally {
      client.close();
    }
  });

  it('Watch reports SERVING, then NOT_SERVING when the drain starts, and ends so as not to hold it up', async () => {
    const client = createClient(Health, createGrpcTransport({ baseUrl: server.grpcUrl }));
    const seen: Status[] = [];
    const watching = (async () => {
      for await (const response of client.watch({ service: '' })) {
        seen.push(response.status);
        if (seen.length === 1) accepting = false;
      }
    })();
    await watching;
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]);
    expect((await client.check({ service: '' })).status).toBe(Status.NOT_SERVING);
    accepting = true;
  });
});
