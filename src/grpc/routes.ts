import { createServiceImplSpec, type ConnectRouter, type Interceptor, type ServiceImplSpec } from '@connectrpc/connect';
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

/** A service's implementation and the interceptors every call of it passes, in order. */
export interface RpcService {
  readonly spec: ServiceImplSpec;
  readonly interceptors: readonly Interceptor[];
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

/** The RPC services: Connect and gRPC-Web serve them on the REST port, grpc-js on GRPC_PORT. */
export function rpcServices(deps: RpcDependencies): readonly RpcService[] {
  const outer = [...(deps.observe === undefined ? [] : [deps.observe]), statuses(deps.logger)];
  const api = (resource: 'products' | 'users') => [
    ...outer,
    shedCalls(deps.isUnderPressure),
    authenticate(deps.authenticator, resource),
    limitCalls(deps.limiter),
  ];
  return [
    {
      spec: createServiceImplSpec<typeof ProductService>(ProductService, productRpc(deps.products, deps.cursors)),
      interceptors: api('products'),
    },
    {
      spec: createServiceImplSpec<typeof UserService>(UserService, userRpc(deps.users, deps.cursors)),
      interceptors: api('users'),
    },
    // Probes are neither authenticated, limited nor shed, as /readyz is not.
    { spec: createServiceImplSpec<typeof Health>(Health, healthRpc(deps.readiness)), interceptors: outer },
  ];
}

/** The same services as Connect routes, for @connectrpc/connect-fastify on the REST port. */
export function rpcRoutes(deps: RpcDependencies): (router: ConnectRouter) => void {
  const services = rpcServices(deps);
  return (router) => {
    for (const { spec, interceptors } of services) {
      for (const method of Object.values(spec.methods))
        router.rpc(method.method, method.impl, { interceptors: [...interceptors] });
    }
  };
}
