import { Writable } from 'node:stream';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProductService } from '../../src/grpc/gen/productuser/v1/product_service_pb.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startRpcServer, type RpcServer } from '../helpers/rpc-server.js';
import { token } from '../helpers/tokens.js';

let db: TestDatabase;
let server: RpcServer;
const logged: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const lines = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged.push(chunk.toString());
      done();
    },
  });
  server = await startRpcServer(db, {}, undefined, pino({ level: 'error' }, lines));
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

describe('a failure nobody mapped (INTERNAL)', () => {
  // A schema that no longer matches the code: PostgreSQL answers 42703 (undefined column),
  // which is neither a domain error nor the database being unavailable.
  beforeAll(async () => {
    await db.pool.query('ALTER TABLE products RENAME COLUMN sku TO sku_drifted');
  });
  afterAll(async () => {
    await db.pool.query('ALTER TABLE products RENAME COLUMN sku_drifted TO sku');
  });

  const transports: [string, () => Transport][] = [
    ['native gRPC (grpc-js server)', () => createGrpcTransport({ baseUrl: server.grpcUrl })],
    ['Connect on the REST port', () => createConnectTransport({ baseUrl: server.restUrl, httpVersion: '1.1' })],
  ];
  it.each(transports)('%s: INTERNAL with a fixed message; the cause is logged, not sent', async (_name, transport) => {
    const client = createClient(ProductService, transport());
    const before = logged.length;
    const error = await client.listProducts({}, { headers: { authorization: `Bearer ${await token()}` } }).then(
      () => null,
      (err: unknown) => ConnectError.from(err),
    );
    expect(error?.code).toBe(Code.Internal);
    expect(error?.rawMessage).toBe('An unexpected error occurred');
    expect(JSON.stringify(error?.details)).not.toMatch(/sku|column|42703/);
    const lines = logged.slice(before).join('');
    expect(lines).toContain('unhandled error');
    expect(lines).toContain('sku');
  });
});
