import type { ConnectRouter, Interceptor } from '@connectrpc/connect';
import type { Logger } from 'pino';
import type { Authenticator } from '../http/auth.js';
import type { Readiness } from '../http/health.js';
import type { CursorCodec } from '../http/pagination.js';
import type { RateLimiter } from '../http/rate-limit.js';
import type { ProductService as Products } from '../services/product-service.js';
import type { UserService as Users } from '../services/user-service.js';
import { authenticate } from './auth.js';
import { toConnectError } from './errors.js';
import { ProductService } from './gen/productuser/v1/product_service_pb.js';
import { Health } from './gen/grpc/health/v1/health_pb.js';
import { UserService } from './gen/productuser/v1/user_service_pb.js';
import { healthRpc } from './health-rpc.js';
import { limitCalls, shedCalls } from './limits.js';
import { productRpc } from './product-rpc.js';
import { userRpc } from './user-rpc.js';

export interface RpcDependencies {
  readonly logger: Logger;
  readonly products: Products;
  readonly users: Users;
  readonly authenticator: Authenticator;
  readonly cursors: CursorCodec;
  readonly readiness: Readiness;
  readonly limiter: RateLimiter;
  readonly isUnderPressure: () => boolean;
  /** Outermost, on native gRPC only: what Fastify's hooks do for calls on the REST port. */
  readonly observe?: Interceptor;
}

/** Every failure leaves as a gRPC status from the one table in errors.ts; unknown ones are logged, then masked. */
function statuses(logger: Logger): Interceptor {
  return (next) => async (request) => {
    try {
      return await next(request);
    } catch (err) {
      throw toConnectError(err, (unknown) =>
        logger.error({ err: unknown, rpc: request.method.name }, 'unhandled error'),
      );
    }
  };
}

/** The RPC services, for Connect and gRPC-Web on the REST port and native gRPC on GRPC_PORT alike. */
export function rpcRoutes(deps: RpcDependencies): (router: ConnectRouter) => void {
  const outer = [...(deps.observe === undefined ? [] : [deps.observe]), statuses(deps.logger)];
  const api = (resource: 'products' | 'users') => ({
    interceptors: [
      ...outer,
      shedCalls(deps.isUnderPressure),
      authenticate(deps.authenticator, resource),
      limitCalls(deps.limiter),
    ],
  });
  return (router) => {
    router.service(ProductService, productRpc(deps.products, deps.cursors), api('products'));
    router.service(UserService, userRpc(deps.users, deps.cursors), api('users'));
    // Probes are neither authenticated, limited nor shed, as /readyz is not.
    router.service(Health, healthRpc(deps.readiness), { interceptors: outer });
  };
}
