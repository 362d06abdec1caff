import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { ProductService } from '../../src/grpc/gen/productuser/v1/product_service_pb.js';
import type { LoadResult } from './load.js';

const hex = (n: number) => n.toString(16).padStart(12, '0');
const seededName = () => `products/01900000-0000-7000-8000-${hex(1 + Math.floor(Math.random() * 10_000))}`;

/**
 * G1: GetProduct over native gRPC, random seeded ids. A Node load client (no gRPC load tool
 * installs here): one virtual user per connection, each with an HTTP/2 connection of its
 * own, one call in flight at a time, as wrk's connections are for W1.
 */
export async function runGrpcLoad(
  grpcUrl: string,
  token: string,
  connections: number,
  seconds: number,
): Promise<LoadResult> {
  const headers = { authorization: `Bearer ${token}` };
  const latencies: number[] = [];
  let failures = 0;
  const deadline = performance.now() + seconds * 1000;
  const user = async () => {
    const client = createClient(ProductService, createGrpcTransport({ baseUrl: grpcUrl }));
    while (performance.now() < deadline) {
      const started = performance.now();
      try {
        await client.getProduct({ name: seededName() }, { headers, timeoutMs: 5000 });
        latencies.push(performance.now() - started);
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, user));
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
  return {
    requests: latencies.length + failures,
    seconds,
    rps: latencies.length / seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    non2xx: failures,
    socketErrors: 0,
  };
}
