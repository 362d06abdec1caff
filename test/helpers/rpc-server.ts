import { ConnectError } from '@connectrpc/connect';
import type { Logger } from 'pino';
import { composeService } from '../../src/compose.js';
import { createGrpcServer } from '../../src/grpc/server.js';
import type { App } from '../../src/http/app.js';
import { testConfig, TEST_JWT_SECRET } from './app.js';
import { silentLogger, type TestDatabase } from './database.js';

export interface RpcServer {
  readonly app: App;
  /** The REST port: REST, Connect and gRPC-Web over HTTP/1.1. */
  readonly restUrl: string;
  /** The native gRPC port (HTTP/2 cleartext). */
  readonly grpcUrl: string;
  close(): Promise<void>;
}

/** The service's wiring listening on both ports, with JWT authentication on, over a test database. */
export async function startRpcServer(
  db: Pick<TestDatabase, 'url' | 'pool'>,
  env: Record<string, string> = {},
  isAcceptingTraffic?: () => boolean,
  logger: Logger = silentLogger,
): Promise<RpcServer> {
  const config = testConfig(db, { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: TEST_JWT_SECRET, ...env });
  const { app, rpc } = await composeService({ config, pool: db.pool, logger, isAcceptingTraffic });
  const restUrl = await app.listen({ port: 0, host: '127.0.0.1' });
  const grpc = createGrpcServer(rpc, config.http.bodyLimitBytes);
  const grpcUrl = `http://127.0.0.1:${await grpc.listen(0, '127.0.0.1')}`;
  return { app, restUrl, grpcUrl, close: async () => void (await Promise.all([app.close(), grpc.close(1000)])) };
}

/** The error a call failed with; fails the test when the call succeeds. */
export async function rejection(call: Promise<unknown>): Promise<ConnectError> {
  const outcome = await call.then(
    () => null,
    (err: unknown) => ConnectError.from(err),
  );
  if (outcome === null) throw new Error('the call succeeded');
  return outcome;
}
