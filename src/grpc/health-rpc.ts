import { setTimeout as sleep } from 'node:timers/promises';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import type { Readiness } from '../http/health.js';
import { HealthCheckResponse_ServingStatus as Status, type Health } from './gen/grpc/health/v1/health_pb.js';
import { ProductService } from './gen/productuser/v1/product_service_pb.js';
import { UserService } from './gen/productuser/v1/user_service_pb.js';

/** "" is the server as a whole: what /readyz says. The services follow it. */
const SERVICES = new Set(['', ProductService.typeName, UserService.typeName]);
/** How often a Watch looks again; one database ping serves every watcher in that time. */
const WATCH_INTERVAL_MS = 1000;

/**
 * grpc.health.v1.Health following readiness: SERVING while the database answers and no
 * shutdown has started, NOT_SERVING otherwise. No authentication: the kubelet's grpc probe
 * and load balancers call it without a token. A Watch ends, after NOT_SERVING, once a
 * shutdown has started, so that the drain is not held up by it.
 */
export function healthRpc(readiness: Readiness): ServiceImpl<typeof Health> {
  let last: { at: number; status: Promise<Status> } | undefined;
  const current = (): Promise<Status> => {
    if (!readiness.isAcceptingTraffic()) return Promise.resolve(Status.NOT_SERVING);
    const now = Date.now();
    if (last === undefined || now - last.at >= WATCH_INTERVAL_MS) {
      const status = readiness.pingDatabase().then(
        () => Status.SERVING,
        () => Status.NOT_SERVING,
      );
      last = { at: now, status };
    }
    return last.status;
  };

  return {
    async check(request) {
      if (!SERVICES.has(request.service)) throw new ConnectError('unknown service', Code.NotFound);
      return { status: await current() };
    },

    async *watch(request, context) {
      if (!SERVICES.has(request.service)) {
        yield { status: Status.SERVICE_UNKNOWN };
        return;
      }
      let sent: Status | undefined;
      while (!context.signal.aborted) {
        const status = await current();
        if (status !== sent) {
          yield { status };
          sent = status;
        }
        if (!readiness.isAcceptingTraffic()) return;
        await sleep(WATCH_INTERVAL_MS, undefined, { signal: context.signal }).catch(() => undefined);
      }
    },
  };
}
