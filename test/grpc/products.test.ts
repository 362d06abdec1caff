import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Code, ConnectError, createClient, type Client, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadRequestSchema } from '../../src/grpc/gen/google/rpc/error_details_pb.js';
import { ProductService } from '../../src/grpc/gen/productuser/v1/product_service_pb.js';
import type { App } from '../../src/http/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually } from '../helpers/eventually.js';
import { rejection, startRpcServer, type RpcServer } from '../helpers/rpc-server.js';
import { token } from '../helpers/tokens.js';

let db: TestDatabase;
let server: RpcServer;
let app: App;
let restUrl: string;
let grpcUrl: string;
let authorization: string;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startRpcServer(db);
  ({ app, restUrl, grpcUrl } = server);
  authorization = `Bearer ${await token()}`;
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

const transports: Record<string, () => Transport> = {
  'Connect over HTTP/1.1 (REST port)': () => createConnectTransport({ baseUrl: restUrl, httpVersion: '1.1' }),
  'gRPC-Web over HTTP/1.1 (REST port)': () => createGrpcWebTransport({ baseUrl: restUrl, httpVersion: '1.1' }),
  // The Connect client's gRPC transport over HTTP/2; GRPC_PORT (grpc-js) speaks only gRPC.
  'gRPC over HTTP/2 (gRPC port, Connect client)': () => createGrpcTransport({ baseUrl: grpcUrl }),
};

let sequence = 0;
const uniqueSku = () => `RPC-${Date.now()}-${sequence++}`;

describe.each(Object.entries(transports))('%s', (_name, makeTransport) => {
  let client: Client<typeof ProductService>;
  const headers = () => ({ authorization });
  beforeAll(() => {
    client = createClient(ProductService, makeTransport());
  });

  it('creates, gets, updates with a field mask and etag, lists and deletes', async () => {
    const sku = uniqueSku();
    const { product } = await client.createProduct(
      { product: { sku, displayName: 'Mug', price: '12.50' } },
      { headers: headers() },
    );
    expect(product).toMatchObject({ sku, displayName: 'Mug', price: '12.50', currency: 'USD', etag: '"1"' });
    expect(product?.name).toMatch(/^products\/[0-9a-f-]{36}$/);
    const name = product?.name ?? '';

    const got = await client.getProduct({ name }, { headers: headers() });
    expect(got.product).toMatchObject({ sku, displayName: 'Mug' });

    const updated = await client.updateProduct(
      {
        product: { name, displayName: 'Big mug', price: '13.00', etag: '"1"' },
        updateMask: { paths: ['display_name'] },
      },
      { headers: headers() },
    );
    // Only the masked field changed.
    expect(updated.product).toMatchObject({ displayName: 'Big mug', price: '12.50', etag: '"2"' });

    const stale = await rejection(
      client.updateProduct(
        { product: { name, displayName: 'x', etag: '"1"' }, updateMask: { paths: ['display_name'] } },
        { headers: headers() },
      ),
    );
    expect(stale.code).toBe(Code.Aborted);

    const listed = await client.listProducts({ pageSize: 100, sku }, { headers: headers() });
    expect(listed.products.map((p) => p.name)).toEqual([name]);

    await client.deleteProduct({ name, etag: '"2"' }, { headers: headers() });
    expect((await rejection(client.getProduct({ name }, { headers: headers() }))).code).toBe(Code.NotFound);
  });

  it('records the event of each change made over RPC, as over REST', async () => {
    const { product } = await client.createProduct(
      { product: { sku: uniqueSku(), displayName: 'Evented', price: '2.00' } },
      { headers: headers() },
    );
    const name = product?.name ?? '';
    await client.deleteProduct({ name, etag: '"1"' }, { headers: headers() });
    const events = await db.pool.query<{ type: string; resource_version: number }>(
      'SELECT type, resource_version FROM outbox WHERE subject = $1 ORDER BY id',
      [name.replace('products/', '')],
    );
    expect(events.rows).toEqual([
      { type: 'com.example.productuser.product.created.v1', resource_version: 1 },
      { type: 'com.example.productuser.product.deleted.v1', resource_version: 2 },
    ]);
  });

  it('names every failing field in google.rpc.BadRequest (INVALID_ARGUMENT)', async () => {
    const error = await rejection(
      client.createProduct(
        { product: { sku: 'bad sku', displayName: '  ', price: '1.234', currency: 'euro' } },
        { headers: headers() },
      ),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    const [badRequest] = error.findDetails(BadRequestSchema);
    expect(badRequest?.fieldViolations.map((v) => v.field).sort()).toEqual([
      'product.currency',
      'product.display_name',
      'product.price',
      'product.sku',
    ]);
  });

  it('refuses a taken SKU with ALREADY_EXISTS', async () => {
    const sku = uniqueSku();
    await client.createProduct({ product: { sku, displayName: 'One', price: '1.00' } }, { headers: headers() });
    const error = await rejection(
      client.createProduct({ product: { sku, displayName: 'Two', price: '1.00' } }, { headers: headers() }),
    );
    expect(error.code).toBe(Code.AlreadyExists);
  });

  it('authenticates every RPC and checks its scope', async () => {
    const readOnly = `Bearer ${await token({ scopes: ['products:read'] })}`;
    const otherResource = `Bearer ${await token({ scopes: ['users:write'] })}`;
    const name = 'products/01890000-0000-7000-8000-000000000000';
    const calls: [string, (options: { headers: Record<string, string> }) => Promise<unknown>][] = [
      ['get', (o) => client.getProduct({ name }, o)],
      ['list', (o) => client.listProducts({}, o)],
      ['create', (o) => client.createProduct({ product: { sku: uniqueSku(), displayName: 'A', price: '1.00' } }, o)],
      [
        'update',
        (o) =>
          client.updateProduct({ product: { name, displayName: 'B' }, updateMask: { paths: ['display_name'] } }, o),
      ],
      ['delete', (o) => client.deleteProduct({ name }, o)],
    ];
    for (const [rpc, call] of calls) {
      expect((await rejection(call({ headers: {} }))).code, rpc).toBe(Code.Unauthenticated);
      expect((await rejection(call({ headers: { authorization: 'Bearer not.a.token' } }))).code, rpc).toBe(
        Code.Unauthenticated,
      );
      expect((await rejection(call({ headers: { authorization: otherResource } }))).code, rpc).toBe(
        Code.PermissionDenied,
      );
      const write = rpc !== 'get' && rpc !== 'list';
      const withReadScope = await call({ headers: { authorization: readOnly } }).then(
        () => null,
        (err: unknown) => ConnectError.from(err).code,
      );
      if (write) expect(withReadScope, rpc).toBe(Code.PermissionDenied);
      else expect([null, Code.NotFound], rpc).toContain(withReadScope);
    }
  });
});

describe('one set of rules across transports', () => {
  const client = () => createClient(ProductService, createConnectTransport({ baseUrl: restUrl, httpVersion: '1.1' }));

  it('replays a create by request_id, and shares the key with REST’s Idempotency-Key for the same caller', async () => {
    const sku = uniqueSku();
    const request = { product: { sku, displayName: 'Once', price: '5.00' }, requestId: `key-${sku}` };
    const first = await client().createProduct(request, { headers: { authorization } });
    const again = await client().createProduct(request, { headers: { authorization } });
    expect(again.product?.name).toBe(first.product?.name);
    const rest = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      headers: { authorization, 'idempotency-key': `key-${sku}` },
      payload: { sku, name: 'Once', price: 5 },
    });
    expect(rest.statusCode).toBe(201);
    expect(rest.headers['idempotent-replayed']).toBe('true');
    expect(`products/${rest.json<{ id: string }>().id}`).toBe(first.product?.name);
  });

  it('ten concurrent updates with one etag: exactly one succeeds, nine ABORTED', async () => {
    const { product } = await client().createProduct(
      { product: { sku: uniqueSku(), displayName: 'Race', price: '1.00' } },
      { headers: { authorization } },
    );
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        client()
          .updateProduct(
            {
              product: { name: product?.name ?? '', displayName: `writer ${i}`, etag: product?.etag ?? '' },
              updateMask: { paths: ['display_name'] },
            },
            { headers: { authorization } },
          )
          .then(
            () => 'ok',
            (err: unknown) => Code[ConnectError.from(err).code],
          ),
      ),
    );
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'Aborted')).toHaveLength(9);
  });

  it('walks a listing to its end with page tokens, each product once', async () => {
    const currency = 'XPG';
    const created = new Set<string>();
    for (let i = 0; i < 7; i++) {
      const { product } = await client().createProduct(
        { product: { sku: uniqueSku(), displayName: `Page ${i}`, price: `${i + 1}.00`, currency } },
        { headers: { authorization } },
      );
      created.add(product?.name ?? '');
    }
    const seen: string[] = [];
    let pageToken = '';
    do {
      const page = await client().listProducts(
        { pageSize: 3, currency, orderBy: 'price desc', pageToken },
        { headers: { authorization } },
      );
      seen.push(...page.products.map((p) => p.name));
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    expect(seen).toHaveLength(7);
    expect(new Set(seen)).toEqual(created);
    const bad = await rejection(
      client().listProducts({ pageSize: 3, currency, pageToken: 'forged' }, { headers: { authorization } }),
    );
    expect(bad.code).toBe(Code.InvalidArgument);
  });
});

describe('native gRPC with @grpc/grpc-js', () => {
  interface GrpcProductClient extends grpc.Client {
    GetProduct(
      request: object,
      metadata: grpc.Metadata,
      callback: (err: grpc.ServiceError | null, value?: unknown) => void,
    ): void;
    CreateProduct(
      request: object,
      metadata: grpc.Metadata,
      callback: (err: grpc.ServiceError | null, value?: unknown) => void,
    ): void;
  }
  let client: GrpcProductClient;
  const metadata = (value = authorization) => {
    const m = new grpc.Metadata();
    if (value !== '') m.set('authorization', value);
    return m;
  };
  const call = (method: 'GetProduct' | 'CreateProduct', request: object, m: grpc.Metadata) =>
    new Promise<{ err: grpc.ServiceError | null; value?: unknown }>((resolve) =>
      client[method](request, m, (err, value) => resolve({ err, value })),
    );

  beforeAll(() => {
    const definition = protoLoader.loadSync('productuser/v1/product_service.proto', {
      includeDirs: [fileURLToPath(new URL('../../proto', import.meta.url))],
      keepCase: true,
    });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      productuser: {
        v1: { ProductService: new (address: string, credentials: grpc.ChannelCredentials) => GrpcProductClient };
      };
    };
    client = new loaded.productuser.v1.ProductService(
      grpcUrl.replace('http://', ''),
      grpc.credentials.createInsecure(),
    );
  });
  afterAll(() => client.close());

  it('creates and gets a product; statuses and details arrive as grpc-js reports them', async () => {
    const sku = uniqueSku();
    const created = await call(
      'CreateProduct',
      { product: { sku, display_name: 'Native', price: '3.10' } },
      metadata(),
    );
    expect(created.err).toBeNull();
    const name = (created.value as { product: { name: string } }).product.name;
    const got = await call('GetProduct', { name }, metadata());
    expect(got.value).toMatchObject({ product: { sku, display_name: 'Native', price: '3.10' } });

    const missing = await call('GetProduct', { name: 'products/01890000-0000-7000-8000-000000000000' }, metadata());
    expect(missing.err?.code).toBe(grpc.status.NOT_FOUND);
    const anonymous = await call('GetProduct', { name }, metadata(''));
    expect(anonymous.err?.code).toBe(grpc.status.UNAUTHENTICATED);

    const invalid = await call('CreateProduct', { product: { sku: '', display_name: 'x', price: 'free' } }, metadata());
    expect(invalid.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    const [details] = invalid.err?.metadata.get('grpc-status-details-bin') ?? [];
    expect(details).toBeInstanceOf(Buffer);
  });
});

describe('deadlines', () => {
  it('cancels a listing whose deadline passes while its statement waits', async () => {
    const client = createClient(ProductService, createGrpcTransport({ baseUrl: grpcUrl }));
    const locker = await db.pool.connect();
    try {
      await locker.query('BEGIN');
      // Every read of the table now waits for this transaction.
      await locker.query('LOCK TABLE products IN ACCESS EXCLUSIVE MODE');
      const waiting = async () =>
        Number(
          (
            await db.pool.query<{ n: string }>(
              `SELECT count(*) AS n FROM pg_stat_activity
               WHERE datname = current_database() AND state = 'active'
                 AND query LIKE 'SELECT % FROM products%' AND pid <> pg_backend_pid()`,
            )
          ).rows[0]?.n,
        );
      const call = rejection(client.listProducts({ pageSize: 5 }, { headers: { authorization }, timeoutMs: 1000 }));
      await eventually(async () => (await waiting()) === 1, 3000);
      expect((await call).code).toBe(Code.DeadlineExceeded);
      // Cancelled well before the test pool's 5 s statement timeout, the lock still held.
      await eventually(async () => (await waiting()) === 0, 3500);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
  });

  it('answers DEADLINE_EXCEEDED when the deadline passes on a locked row, and cancels the statement', async () => {
    const client = createClient(ProductService, createGrpcTransport({ baseUrl: grpcUrl }));
    const { product } = await client.createProduct(
      { product: { sku: uniqueSku(), displayName: 'Locked', price: '1.00' } },
      { headers: { authorization } },
    );
    const id = (product?.name ?? '').replace('products/', '');
    const locker = await db.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM products WHERE id = $1 FOR UPDATE', [id]);
      // While the lock is held, the write (a statement that also records its event) waits on it.
      const waiting = async () =>
        Number(
          (
            await db.pool.query<{ n: string }>(
              `SELECT count(*) AS n FROM pg_stat_activity
               WHERE datname = current_database() AND state = 'active'
                 AND query LIKE 'WITH changed AS (UPDATE products%'`,
            )
          ).rows[0]?.n,
        );
      const call = rejection(
        client.updateProduct(
          { product: { name: product?.name ?? '', displayName: 'Late' }, updateMask: { paths: ['display_name'] } },
          { headers: { authorization }, timeoutMs: 1000 },
        ),
      );
      await eventually(async () => (await waiting()) === 1, 3000);
      const error = await call;
      expect(error.code).toBe(Code.DeadlineExceeded);
      // While the lock is still held, the write no longer waits on it: it was cancelled.
      // Well before the 5 s statement timeout of the test pool, which would end it anyway.
      await eventually(async () => (await waiting()) === 0, 3500);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    // Nothing was written after the client was told the call failed.
    const after = await client.getProduct({ name: product?.name ?? '' }, { headers: { authorization } });
    expect(after.product).toMatchObject({ displayName: 'Locked', etag: '"1"' });
  });
});
